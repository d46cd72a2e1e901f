package api

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/internal/httpstatus"
)

// Field names of the access log line, one per request.
const (
	LogMessage  = "request"
	LogMethod   = "method"
	LogPath     = "path" // without the query string: it is never logged
	LogStatus   = "status"
	LogDuration = "duration"
	LogTokenID  = "token_id" // the token's id, never the token
	LogCode     = "error"
	LogDetail   = "detail" // why, for operators; never a secret
)

// reqInfo collects what handlers learn for the log line.
type reqInfo struct {
	tokenID, code, detail string
	// route is the matched route's pattern ("GET /v1/grants/{id}"), ""
	// for a request that matched none.
	route string
}

// withRoute names the route a request matched, for Options.ObserveRequest.
func withRoute(pattern string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if info := infoFrom(r.Context()); info != nil {
			info.route = pattern
		}
		next(w, r)
	}
}

type infoKey struct{}

func infoFrom(ctx context.Context) *reqInfo {
	info, _ := ctx.Value(infoKey{}).(*reqInfo)
	return info
}

// accessLog writes one line per request after it is answered, and turns a
// handler panic into a 500 (logged) instead of a dropped connection.
func accessLog(log *zap.Logger, observe func(route string, status int, elapsed time.Duration), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &reqInfo{}
		sw := &httpstatus.Writer{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				info.code, info.detail = errInternal.code, "panic in handler"
				log.Error("handler panic", zap.String(LogMethod, r.Method), zap.String(LogPath, r.URL.Path), zap.Any("panic", p))
				if sw.Status == 0 {
					writeError(sw, r, errInternal)
				}
			}
			fields := []zap.Field{
				zap.String(LogMethod, r.Method),
				zap.String(LogPath, r.URL.Path),
				zap.Int(LogStatus, sw.Status),
				zap.Duration(LogDuration, time.Since(start)),
			}
			if info.tokenID != "" {
				fields = append(fields, zap.String(LogTokenID, info.tokenID))
			}
			if info.code != "" {
				fields = append(fields, zap.String(LogCode, info.code))
			}
			if info.detail != "" {
				fields = append(fields, zap.String(LogDetail, info.detail))
			}
			log.Info(LogMessage, fields...)
			if observe != nil {
				observe(info.route, sw.Status, time.Since(start))
			}
		}()
		next.ServeHTTP(sw, r)
	})
}
