import FinwatchCore

/// Builds the segments of one connection in time order, keeping each side's sequence numbers
/// and acknowledgments consistent: every segment's sequence is its sender's next byte, every
/// ACK covers what that side has received. The capture point sits next to `resp` (the usual
/// place for a server-side monitor): `resp` answers within tens of microseconds, `orig` one
/// round trip later.
struct ConnectionScript {
    let flow: Flow
    private(set) var segments: [Segment] = []
    /// Once the emitter passes this many segments the connection stops counting as busy (an idle
    /// tail follows: lingering CLOSE_WAIT, TIME_WAIT before reuse, SYN back-off) and the
    /// generator starts another one, so long pauses do not starve the packet rate.
    var releaseCount: Int?
    /// Microseconds since the epoch of the next segment's earliest time.
    private(set) var now: UInt64
    let roundTrip: UInt64
    let serverDelay: UInt64
    let mss: Int
    private var nextOrig: UInt32
    private var nextResp: UInt32
    /// What each side has received from its peer: the acknowledgment it sends.
    private var receivedByOrig: UInt32 = 0
    private var receivedByResp: UInt32 = 0
    private let windowOrig: UInt16
    private let windowResp: UInt16

    init(flow: Flow, start: UInt64, random: inout SeededGenerator) {
        self.flow = flow
        now = start
        // Half the flows are local (0.1–1 ms round trip), half cross a WAN (5–80 ms).
        roundTrip = random.chance(50) ? random.between(100...1_000) : random.between(5_000...80_000)
        serverDelay = random.between(15...250)
        mss = flow.isIPv6 ? 1440 : 1460      // the SYN's MSS option: no TCP timestamps here
        nextOrig = ConnectionScript.initialSequence(&random)
        nextResp = ConnectionScript.initialSequence(&random)
        windowOrig = UInt16(random.between(250...2_000))
        windowResp = UInt16(random.between(250...2_000))
        segments.reserveCapacity(32)
    }

    /// A random ISN; 3% start within 20 kB of 2^32 so their byte stream wraps around zero.
    static func initialSequence(_ random: inout SeededGenerator) -> UInt32 {
        if random.chance(3) { return UInt32.max - UInt32(random.below(20_000)) }
        return UInt32(truncatingIfNeeded: random.next())
    }

    /// The usual pause before `side` speaks: a server's processing time, or a client's round trip.
    func delay(for side: Side) -> UInt64 { side == .resp ? serverDelay : roundTrip }

    /// Sends the next segment of `side`. `after` overrides the usual delay; an undelivered segment
    /// (lost after the capture point, or still in flight when the peer sends) is not acknowledged
    /// until `deliver(_:)`.
    mutating func send(
        _ side: Side, _ flags: TCPFlags, bytes: Int = 0, after: UInt64? = nil, delivered: Bool = true
    ) {
        now += after ?? delay(for: side)
        let sequence = side == .orig ? nextOrig : nextResp
        let length = UInt32(bytes) + (flags.contains(.syn) ? 1 : 0) + (flags.contains(.fin) ? 1 : 0)
        append(side, flags, sequence: sequence, bytes: bytes)
        if side == .orig { nextOrig &+= length } else { nextResp &+= length }
        if delivered { deliver(side) }
    }

    /// Sends the last SYN or FIN of `side` again, same sequence number (a retransmission).
    mutating func resend(_ side: Side, _ flags: TCPFlags, after: UInt64, delivered: Bool = true) {
        now += after
        append(side, flags, sequence: (side == .orig ? nextOrig : nextResp) &- 1, bytes: 0)
        if delivered { deliver(side) }
    }

    /// The peer of `side` has now received everything `side` sent.
    mutating func deliver(_ side: Side) {
        if side == .orig { receivedByResp = nextOrig } else { receivedByOrig = nextResp }
    }

    /// The capture starts mid-connection: each side has already received all the other sent.
    mutating func assumeSynchronised() {
        deliver(.orig)
        deliver(.resp)
    }

    /// The three-way handshake; the SYNs carry options (MSS, SACK permitted, window scale).
    mutating func handshake(synAfter: UInt64 = 0) {
        send(.orig, .syn, after: synAfter)
        send(.resp, [.syn, .ack])
        send(.orig, .ack)
    }

    /// `byteCount` bytes from `side` in MSS-sized segments (PSH on the last), the peer ACKing every
    /// second segment and the last (delayed ACK, RFC 9293 §3.8.6.3); a burst of ten segments is
    /// followed by a round trip's pause (the congestion window). `finOnLast` piggybacks the FIN.
    mutating func transfer(from side: Side, byteCount: Int, finOnLast: Bool = false, random: inout SeededGenerator) {
        var left = byteCount
        var index = 0
        while left > 0 {
            let size = min(left, mss)
            left -= size
            let isLast = left == 0
            var flags: TCPFlags = isLast ? [.psh, .ack] : .ack
            if isLast && finOnLast { flags.insert(.fin) }
            let pause: UInt64
            if index == 0 { pause = delay(for: side) }
            else if index % 10 == 0 { pause = roundTrip }
            else { pause = random.between(8...60) }          // back to back at line rate
            send(side, flags, bytes: size, after: pause)
            index += 1
            if isLast || index % 2 == 0 {
                send(side.peer, .ack, after: side.peer == .resp ? random.between(20...200) : random.between(5...40))
            }
        }
    }

    /// A request from `orig` and the response from `resp`, acknowledged: the bulk of every flow.
    mutating func exchange(random: inout SeededGenerator, responseFIN: Bool = false) {
        transfer(from: .orig, byteCount: Int(random.between(80...1_200)), random: &random)
        transfer(from: .resp, byteCount: ConnectionScript.responseSize(&random), finOnLast: responseFIN, random: &random)
    }

    /// Response sizes: mostly small, a quarter up to 64 kB, a few up to 256 kB.
    static func responseSize(_ random: inout SeededGenerator) -> Int {
        switch random.below(100) {
        case 0..<70: Int(random.between(150...4_000))
        case 70..<95: Int(random.between(4_000...64_000))
        default: Int(random.between(64_000...256_000))
        }
    }

    /// An RST from `side` at its next sequence number (RFC 9293 §3.10.7: in a synchronised state
    /// a reset carries the sender's next sequence number), with ACK set as Linux sends it.
    mutating func reset(_ side: Side, after: UInt64? = nil) {
        send(side, [.rst, .ack], after: after, delivered: false)
    }

    /// `resp` refuses the SYN: RST/ACK with sequence 0 acknowledging the SYN (RFC 9293 §3.10.7.1).
    mutating func refuse() {
        now += serverDelay
        segments.append(Segment(time: now, from: .resp, flags: [.rst, .ack], sequence: 0,
                                acknowledgment: nextOrig, payloadLength: 0, window: 0))
    }

    /// Marks the connection idle from here on (see `releaseCount`).
    mutating func release() { releaseCount = segments.count }

    /// A new incarnation on the same 4-tuple: fresh ISNs, the client's above its old one
    /// (RFC 9293 §3.10.7.4 lets a SYN in TIME-WAIT reopen the connection only if it is).
    mutating func reincarnate(random: inout SeededGenerator) {
        nextOrig &+= UInt32(random.between(100_000...10_000_000))
        nextResp = ConnectionScript.initialSequence(&random)
        receivedByOrig = 0
        receivedByResp = 0
    }

    private mutating func append(_ side: Side, _ flags: TCPFlags, sequence: UInt32, bytes: Int) {
        let isOrig = side == .orig
        segments.append(Segment(
            time: now, from: side, flags: flags, sequence: sequence,
            acknowledgment: flags.contains(.ack) ? (isOrig ? receivedByOrig : receivedByResp) : 0,
            payloadLength: UInt16(bytes),
            // A SYN's window is unscaled (RFC 7323 §2.2); later ones are scaled by 2^7.
            window: flags.contains(.syn) ? 64_240 : (isOrig ? windowOrig : windowResp)))
    }
}
