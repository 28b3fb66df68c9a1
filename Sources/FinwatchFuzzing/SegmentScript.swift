import FinwatchCore

/// The tracker fuzz targets' input language: a sequence of 8-byte records, each one segment on
/// one of 8 4-tuples (IPv4 and IPv6), with its flags, how its sequence and acknowledgment
/// numbers relate to what each side has sent, a payload length, and how far the clock moves:
/// forward by microseconds or seconds, backward, or decades ahead. Most byte strings describe a
/// plausible teardown, so the fuzzer spends its time in the state machines, not in rejection.
package struct SegmentScript {
    package struct Step {
        package var segment: TCPSegment
        /// The same segment again at once from another interface (a copy on `any`).
        package var copied: Bool
    }

    package static let recordLength = 8
    static let tuples = 8

    /// What one side has sent so far, so most numbers are plausible and some are not.
    private struct Flow {
        var next: [UInt32] = [1000, 90_000]
        var fin: [UInt32?] = [nil, nil]
    }

    package let steps: [Step]

    package init(_ input: [UInt8]) {
        var flows = [Flow](repeating: Flow(), count: Self.tuples)
        var clock: Int64 = 1_800_000_000_000_000_000
        var steps: [Step] = []
        var offset = 0
        while offset + Self.recordLength <= input.count, steps.count < 4096 {
            let r = input[offset..<(offset + Self.recordLength)].map { $0 }
            offset += Self.recordLength
            let tuple = Int(r[0] & 0x07)
            let fromClient = r[0] & 0x80 == 0
            let side = fromClient ? 0 : 1
            let (client, server) = Self.endpoints(tuple)
            let (source, destination) = fromClient ? (client, server) : (server, client)
            let flags = TCPFlags(rawValue: r[1])
            var payload = UInt32(r[4])
            if flags.contains(.syn) { payload = 0 }
            var sequence = flows[tuple].next[side]
            var acknowledgment = flows[tuple].next[1 - side]
            switch r[2] & 0x07 {
            case 0, 1, 2: break                                                // in order
            case 3: sequence &-= UInt32(r[2] >> 3) &* 100                      // old: a retransmission
            case 4: if let fin = flows[tuple].fin[side] { sequence = fin; payload = 0 }   // that FIN again
            case 5: sequence &+= UInt32(r[2] >> 3) &+ 1                       // past a gap: something lost
            case 6: sequence = UInt32(r[3]) << 24 | UInt32(r[2]) << 8         // anywhere
            default: sequence &+= UInt32(r[2] >> 3) << 20                     // far out of window
            }
            switch r[3] & 0x03 {
            case 0, 1: break
            case 2: acknowledgment &-= 1                                      // a FIN not yet covered
            default: acknowledgment &+= UInt32(r[3] >> 2)                     // more than was sent
            }
            if flags.contains(.syn) && !flags.contains(.ack) && fromClient {
                flows[tuple].next[0] = UInt32(r[3]) << 16 | UInt32(r[2]) << 8 | UInt32(r[4])
                sequence = flows[tuple].next[0]
            }
            if flags.contains(.fin) { flows[tuple].fin[side] = sequence &+ payload }
            let consumed = payload + (flags.contains(.syn) || flags.contains(.fin) ? 1 : 0)
            if sequence == flows[tuple].next[side] { flows[tuple].next[side] &+= consumed }
            let amount = Int64(UInt16(r[5] & 0x3F) << 8 | UInt16(r[6]))
            switch r[5] >> 6 {
            case 0: clock += amount * 10_000                                   // up to 164 ms on
            case 1: clock += amount * 1_000_000                                // up to 16 s on
            case 2: clock -= amount * 1_000_000                                // back up to 16 s
            default: clock += amount * 86_400_000_000_000 / 8                  // up to 56 years on
            }
            clock = max(0, min(clock, 4_000_000_000_000_000_000))             // year 2096: JSON's range
            let segment = TCPSegment(timestamp: Timestamp(nanoseconds: clock), source: source.ip,
                                     destination: destination.ip, sourcePort: source.port,
                                     destinationPort: destination.port, sequence: SequenceNumber(sequence),
                                     acknowledgment: SequenceNumber(acknowledgment), flags: flags,
                                     payloadLength: payload, ipIdentification: UInt16(r[7]) << 8 | UInt16(r[4]),
                                     interfaceIndex: r[7] & 0x10 == 0 ? 1 : 2)
            steps.append(Step(segment: segment, copied: r[7] & 0x01 == 1))
        }
        self.steps = steps
    }

    static func endpoints(_ tuple: Int) -> (client: Endpoint, server: Endpoint) {
        if tuple >= 6 {
            return (Endpoint(ip: IPAddress(ipv6High: 0x2001_0db8_0000_0000, low: UInt64(tuple)), port: UInt16(40_000 + tuple)),
                    Endpoint(ip: IPAddress(ipv6High: 0x2001_0db8_0000_0000, low: 0x443), port: 443))
        }
        // The last two IPv4 tuples share a port pair with another tuple's addresses swapped in
        // part, so hashing and the index see near-collisions.
        return (Endpoint(ip: IPAddress(ipv4: 0xC612_0000 | UInt32(tuple % 4)), port: UInt16(40_000 + tuple / 4)),
                Endpoint(ip: IPAddress(ipv4: 0xC613_0001), port: 443))
    }
}
