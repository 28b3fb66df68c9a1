/// Tunnelled connections: the same inner 4-tuple through another tunnel is another connection,
/// and its events say which tunnel. Plain connections pay nothing for this: their key, record and
/// residue are as they were. A tunnelled connection's key is its inner key with the tunnel path's
/// identity (keyed by the table's seed) XORed into both high address words: an IPv4 key, whose
/// high words are otherwise 0, can then never equal a plain one, and two paths give two keys
/// unless their 64-bit identities collide. What the events need (the path, and the mask to undo
/// on an IPv6 address) is in this side table, by uid, while the connection has a record or residue.
struct TunnelRegistry {
    struct Entry {
        var layers: [TunnelLayer]
        var mask: UInt64
        var isIPv6: Bool
        /// The connection's inner key, unmasked: what its decapsulated copy is keyed by.
        var inner: FlowKey
    }

    var entries: [UInt64: Entry] = [:]
    /// A tunnelled connection's key by its inner key, for the decapsulated copy of its segments
    /// (see `otherCopy`).
    var byInnerKey: [FlowKey: FlowKey] = [:]
    /// Uids whose record and residue are gone: dropped once the events of the call that removed
    /// them are annotated.
    var retired: [UInt64] = []
    /// How deep in the table's public calls we are: events are annotated when the outermost returns.
    var depth = 0
}

extension FlowKey {
    /// The key of a connection through a tunnel whose identity is `mask` (never 0).
    @inline(__always)
    mutating func mask(_ mask: UInt64) {
        aHigh ^= mask
        bHigh ^= mask
    }
}

extension ConnectionTable {
    /// Feeds one segment that came through `tunnel` (nil: a plain segment).
    package mutating func observe(_ segment: TCPSegment, tunnel: TunnelPath?, into events: inout [Event]) {
        let start = enterCall(events)
        observeSegment(segment, tunnel: tunnel, into: &events)
        leaveCall(start, &events)
    }

    /// A segment through `tunnel`: keyed with its identity, and registered if it starts a connection.
    @inline(never)   // off the path plain segments take
    mutating func observeSegment(_ segment: TCPSegment, tunnel: TunnelPath?, into events: inout [Event]) {
        guard let tunnel, !tunnel.isEmpty else {
            observeSegment(segment, mask: 0, into: &events)
            return
        }
        let mask = tunnel.identity(seed: seed)
        let uid = nextUID
        observeSegment(segment, mask: mask, into: &events)
        if nextUID != uid {
            var inner = FlowKey(segment, senderIsA: FlowKey.senderIsA(segment))
            tunnels.entries[uid] = TunnelRegistry.Entry(layers: tunnel.layers, mask: mask, isIPv6: segment.isIPv6, inner: inner)
            if mask != 0 {
                let plain = inner
                inner.mask(mask)
                tunnels.byInnerKey[plain] = inner
            }
        }
    }

    /// On `any`, a tunnel endpoint's segment is captured twice: encapsulated on the underlay and
    /// plain on the overlay device (libpcap's `any` is Linux cooked v1, which does not say which).
    /// A segment that finds no connection of its own is taken as that connection's when the other
    /// form's exists (the plain one for a tunnelled segment, the tunnelled one for a plain
    /// segment); the copy rule then counts the copy once. `key` and `hash` become that
    /// connection's. Two tunnels are never merged: only a tunnel and no tunnel.
    @inline(never)
    mutating func otherCopy(_ segment: TCPSegment, senderIsA: Bool, mask: UInt64,
                            key: inout FlowKey, hash: inout UInt64) -> FlowIndex.Reference? {
        let other: FlowKey
        if mask != 0 {
            other = FlowKey(segment, senderIsA: senderIsA)
        } else {
            guard let masked = tunnels.byInnerKey[key] else { return nil }
            other = masked
        }
        let otherHash = other.hashValue(seed: seed)
        guard let reference = find(other, hash: otherHash) else { return nil }
        (key, hash) = (other, otherHash)
        return reference
    }

    /// Marks the start of a public call; returns where its events start.
    @inline(__always)
    mutating func enterCall(_ events: [Event]) -> Int {
        tunnels.depth += 1
        return events.count
    }

    /// The end of a public call: the outermost annotates the events it caused with their tunnels,
    /// then forgets the tunnels of connections that are gone.
    @inline(__always)
    mutating func leaveCall(_ start: Int, _ events: inout [Event]) {
        tunnels.depth -= 1
        guard tunnels.depth == 0, !tunnels.entries.isEmpty else { return }
        annotateTunnels(&events, from: start)
        for uid in tunnels.retired {
            guard let entry = tunnels.entries.removeValue(forKey: uid) else { continue }
            var masked = entry.inner
            masked.mask(entry.mask)
            if tunnels.byInnerKey[entry.inner] == masked { tunnels.byInnerKey[entry.inner] = nil }
        }
        tunnels.retired.removeAll(keepingCapacity: true)
    }

    /// A connection with `uid` left the table (record and residue both gone).
    @inline(__always)
    mutating func retireTunnel(uid: UInt64) {
        if !tunnels.entries.isEmpty { tunnels.retired.append(uid) }
    }

    @inline(never)
    mutating func annotateTunnels(_ events: inout [Event], from start: Int) {
        guard start < events.count else { return }
        for index in start..<events.count {
            switch events[index] {
            case .close(var record):
                if annotate(&record.identity) { events[index] = .close(record) }
            case .alert(var alert):
                if annotate(&alert.identity) { events[index] = .alert(alert) }
            case .anomaly(var anomaly):
                if annotate(&anomaly.identity) { events[index] = .anomaly(anomaly) }
            case .start, .stats, .stop:
                break
            }
        }
    }

    /// Adds the tunnel to a tunnelled connection's identity and unmasks its IPv6 addresses; false
    /// for a plain connection or one already annotated.
    func annotate(_ identity: inout ConnectionIdentity) -> Bool {
        guard identity.tunnel == nil, let entry = tunnels.entries[identity.uidNumber] else { return false }
        identity.tunnel = entry.layers
        if entry.isIPv6 {
            identity.orig.ip.high ^= entry.mask
            identity.resp.ip.high ^= entry.mask
        }
        return true
    }
}
