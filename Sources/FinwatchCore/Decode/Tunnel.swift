/// One encapsulation a segment arrived through: what `tunnel` in an event lists, outer first.
package struct TunnelLayer: Hashable, Sendable {
    package enum Kind: UInt8, Sendable, CaseIterable {
        case mpls, pppoe, ipip, gre, erspan, vxlan, geneve, gtpu, teredo

        /// The name in events (the contract's list).
        package var name: String {
            switch self {
            case .mpls: "mpls"
            case .pppoe: "pppoe"
            case .ipip: "ipip"
            case .gre: "gre"
            case .erspan: "erspan"
            case .vxlan: "vxlan"
            case .geneve: "geneve"
            case .gtpu: "gtpu"
            case .teredo: "teredo"
            }
        }

        /// The name of the identifier field in events, after the encapsulation's own word.
        package var identifierName: String? {
            switch self {
            case .vxlan, .geneve: "vni"
            case .gre: "key"
            case .gtpu: "teid"
            case .mpls: "label"
            case .pppoe, .erspan: "session"
            case .ipip, .teredo: nil
            }
        }

        /// Whether the identifier names the tunnel in both directions. MPLS labels are per hop
        /// and per direction (an LSP is one way) and a GTP-U TEID is the receiver's own, so the
        /// two directions of one connection carry different values: they are shown, not keyed on.
        var identifierIsSymmetric: Bool {
            switch self {
            case .mpls, .gtpu: false
            default: true
            }
        }
    }

    package var kind: Kind
    /// The outer IP header's addresses (nil for MPLS and PPPoE, which have none of their own).
    package var outerSource: IPAddress?
    package var outerDestination: IPAddress?
    /// VNI, GRE key, TEID, bottom MPLS label, PPPoE or ERSPAN session (nil: the header has none).
    package var identifier: UInt32?

    package init(kind: Kind, outerSource: IPAddress? = nil, outerDestination: IPAddress? = nil, identifier: UInt32? = nil) {
        self.kind = kind
        self.outerSource = outerSource
        self.outerDestination = outerDestination
        self.identifier = identifier
    }
}

/// The encapsulations of one segment, outer first: at most `capacity` (the decoder's depth
/// limit), held inline so decoding a tunnelled frame allocates nothing.
package struct TunnelPath: Sendable, Hashable {
    /// Nesting deeper than this is hostile: real stacks use two or three (MPLS in VXLAN in GRE).
    package static let capacity = 8

    private var storage = InlineArray<8, TunnelLayer>(repeating: TunnelLayer(kind: .ipip))
    package private(set) var count = 0

    package init() {}

    package init(_ layers: [TunnelLayer]) {
        for layer in layers.prefix(Self.capacity) { append(layer) }
    }

    package var isEmpty: Bool { count == 0 }

    package var layers: [TunnelLayer] { (0..<count).map { storage[$0] } }

    package subscript(index: Int) -> TunnelLayer { storage[index] }

    /// Appends `layer`; false (and nothing kept) past `capacity`.
    @discardableResult
    package mutating func append(_ layer: TunnelLayer) -> Bool {
        guard count < Self.capacity else { return false }
        storage[count] = layer
        count += 1
        return true
    }

    package mutating func removeAll() { count = 0 }

    package static func == (lhs: TunnelPath, rhs: TunnelPath) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for index in 0..<lhs.count where lhs.storage[index] != rhs.storage[index] { return false }
        return true
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for index in 0..<count { hasher.combine(storage[index]) }
    }

    /// The path's identity as a connection sees it, the same from both directions: per layer its
    /// kind, its outer address pair in canonical order and its identifier where that is the same
    /// both ways. MPLS layers take no part (labels differ by direction, and the last hop may pop
    /// the stack for one direction only): a path of MPLS alone is 0, the plain connection's.
    /// Keyed by `seed` (per run), so no one outside can aim two tunnels at one value.
    package func identity(seed: UInt64) -> UInt64 {
        var h = seed ^ 0x243F_6A88_85A3_08D3
        var any = false
        func mix(_ word: UInt64) {
            h = (h ^ word) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 29
        }
        for index in 0..<count where storage[index].kind != .mpls {
            let layer = storage[index]
            any = true
            mix(UInt64(layer.kind.rawValue) << 32 | (layer.kind.identifierIsSymmetric ? UInt64(layer.identifier ?? 0) : 0))
            if let source = layer.outerSource, let destination = layer.outerDestination {
                let (low, high) = source < destination ? (source, destination) : (destination, source)
                mix(low.high); mix(low.low); mix(high.high); mix(high.low)
                mix(low.isIPv6 ? 1 : 0)
            }
        }
        guard any else { return 0 }
        // Never 0 for a tunnel: 0 is the plain connection's.
        return h == 0 ? 1 : h
    }
}
