package secretstore

// Ready reports whether the store can serve grants: the last read of the
// file succeeded. It returns an error wrapping ErrStoreUnavailable otherwise.
func (s *FileStore) Ready() error {
	if snap := s.snap.Load(); snap != nil && snap.err != nil {
		return snap.err
	}
	return nil
}

// Close releases what the store holds. Opened secrets are dropped from the
// cache so they can be collected; the store must not be used afterwards.
func (s *FileStore) Close() error {
	s.cache.Purge()
	return nil
}
