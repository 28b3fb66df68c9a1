/// One endpoint of a connection: `orig` sent the SYN (or is inferred to have), `resp` answered.
/// In teardown there is no client or server; who closed first is the active closer.
package enum Side: String, Sendable, Hashable, CaseIterable {
    case orig
    case resp

    package var peer: Side { self == .orig ? .resp : .orig }
}
