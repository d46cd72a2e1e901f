// Package remote is the sidecar's store when grants live on the control
// plane (store.type: remote): a secretstore.Resolver that fetches each
// grant from the server (server/client) and keeps what it fetched in a
// bounded LRU cache.
//
// Freshness. Three things keep the cache honest:
//   - A change follower long-polls the server's change stream and drops
//     every cached grant a change names, within a second of the write
//     (revocation, rotation, a narrowed policy), and reloads the
//     policies the proxy uses to pick which tunnels to terminate.
//   - Every entry is refetched once it is older than the cache TTL. While
//     the change stream is down but the server still answers resolves,
//     this is the bound: a revocation takes effect within one TTL.
//   - A grant's effective expiry (NotAfter) is checked on every Resolve,
//     cached or not, and the proxy enforces the policy's rules (windows,
//     not-before/after) on every request, as for the file store.
//
// When the server refuses the follower a long poll (429: its caps per
// token, app or replica are full, for example because many pods share one
// sidecar token), the follower polls with wait=0, which holds no slot,
// every ShortPoll (500 ms) and asks for a long poll again after
// LongRetry: a revocation still arrives within ShortPoll and a round trip.
// When the server answers the follower with any other error (it answers,
// but the stream cannot be followed), the sidecar is deaf to revocations
// while resolves may still work: from that answer until the follower gets
// through again no cached entry is served (every Resolve asks the server)
// and Ready fails.
//
// When the server cannot be reached (a network error, or a 5xx or 429
// from something in front of it that is not the API's error shape),
// cached entries keep being served, past their
// TTL too, but only while both hold: the server answered something (a
// resolve, the change stream, the policies) less than MaxStale ago, and
// the entry was fetched less than TTL+MaxStale ago. So MaxStale is how
// long a sidecar cut off from the control plane keeps working (and stays
// deaf to revocations); after it, Resolve fails with
// secretstore.ErrStoreUnavailable and the proxy answers 503, even for an
// entry still within its TTL. An answer from the server is never bridged
// by the cache: once the server says a grant is unavailable, or answers
// store_unavailable, the entry is dropped, and a refused sidecar token
// empties the whole cache.
//
// Ready reports whether the sidecar can serve: it has loaded the policies
// once, heard from the server within MaxStale, and the follower's last
// call got through. /readyz uses it.
//
// Files:
//
//	resolver.go  Resolver, Options, Resolve and the cache
//	fetch.go     one fetch per grant at a time, and what an answer does
//	build.go     a Resolution from the server into a secretstore.Resolved
//	follow.go    the change follower and the policies
//	profiles.go  secretstore.ProfileResolver: profile bindings by token
//	             SHA-256 or name, cached like grants
package remote
