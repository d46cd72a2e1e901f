package h1

import (
	"time"
)

// takeIdle pops the most recently used idle connection for key that has
// not outlived the idle timeout.
func (c *Client) takeIdle(key connKey) *pconn {
	var expired []*pconn
	defer func() {
		for _, pc := range expired {
			pc.close()
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.idle[key]
	for len(list) > 0 {
		pc := list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
		c.idle[key] = list
		c.nidle--
		if time.Since(pc.idleAt) > c.idleTimeout {
			expired = append(expired, pc)
			continue
		}
		return pc
	}
	delete(c.idle, key)
	return nil
}

// putIdle pools pc, or closes it when its host's idle list is full.
func (c *Client) putIdle(pc *pconn) {
	pc.idleAt = time.Now()
	c.mu.Lock()
	list := c.idle[pc.key]
	if len(list) >= c.maxIdlePerHost || c.nidle >= c.maxIdle {
		c.mu.Unlock()
		pc.close()
		return
	}
	c.idle[pc.key] = append(list, pc)
	c.nidle++
	if c.sweep == nil {
		c.sweep = time.AfterFunc(c.idleTimeout, c.sweepIdle)
	}
	c.mu.Unlock()
}

// sweepIdle closes connections idle for longer than the idle timeout, so
// they do not wait for the next request to their host to be noticed.
func (c *Client) sweepIdle() {
	var expired []*pconn
	c.mu.Lock()
	c.sweep = nil
	now := time.Now()
	for key, list := range c.idle {
		n := 0
		for n < len(list) && now.Sub(list[n].idleAt) > c.idleTimeout {
			n++
		}
		expired = append(expired, list[:n]...)
		c.nidle -= n
		if n == len(list) {
			delete(c.idle, key)
			continue
		}
		c.idle[key] = append(list[:0], list[n:]...)
	}
	if len(c.idle) > 0 {
		c.sweep = time.AfterFunc(c.idleTimeout/2, c.sweepIdle)
	}
	c.mu.Unlock()
	for _, pc := range expired {
		pc.close()
	}
}

// CloseIdleConnections closes every pooled connection.
func (c *Client) CloseIdleConnections() {
	c.mu.Lock()
	idle := c.idle
	c.idle = map[connKey][]*pconn{}
	c.nidle = 0
	if c.sweep != nil {
		c.sweep.Stop()
		c.sweep = nil
	}
	c.mu.Unlock()
	for _, list := range idle {
		for _, pc := range list {
			pc.close()
		}
	}
}
