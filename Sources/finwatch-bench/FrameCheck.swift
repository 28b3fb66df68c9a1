import FinwatchCore
import FinwatchFixtures

/// Proves `FrameEncoder` writes what `FinwatchFixtures` would: random segments (both address
/// families, every flag combination the generator uses, payloads cut by the snaplen) are
/// encoded both ways and their pcap records compared byte for byte, except the Ethernet
/// addresses (the encoder marks orig and resp, FrameBuilder uses one fixed pair). Also times
/// both, which is why the generator does not use FrameBuilder.
enum FrameCheck {
    struct Result {
        var frames: Int
        var encoderNanosecondsPerFrame: Double
        var builderNanosecondsPerFrame: Double
    }

    static func run(count: Int, seed: UInt64) throws(BenchError) -> Result {
        var random = SeededGenerator(seed: seed)
        let snaplen = 96
        let flagChoices: [TCPFlags] = [.syn, [.syn, .ack], .ack, [.psh, .ack], [.fin, .ack], [.fin, .psh, .ack],
                                       [.rst, .ack], .rst]
        var segments: [(Segment, Flow)] = []
        segments.reserveCapacity(count)
        for index in 0..<count {
            let flow = Flow(number: random.below(1 << 26), isIPv6: random.chance(30), server: random.below(16),
                            port: UInt16(random.between(1...65535)))
            let flags = flagChoices[Int(random.below(UInt64(flagChoices.count)))]
            let payload = flags.contains(.syn) || flags.contains(.rst) ? 0 : UInt16(random.below(1461))
            segments.append((Segment(time: 1_795_564_800_000_000 + UInt64(index) * 37, from: random.chance(50) ? .orig : .resp,
                                     flags: flags, sequence: UInt32(truncatingIfNeeded: random.next()),
                                     acknowledgment: UInt32(truncatingIfNeeded: random.next()),
                                     payloadLength: payload, window: UInt16(truncatingIfNeeded: random.next())), flow))
        }

        var encoder = FrameEncoder(snaplen: snaplen)
        var encoded: [UInt8] = []
        encoded.reserveCapacity(count * 112)
        var identifications: [UInt16] = []
        identifications.reserveCapacity(count)
        let encoderStart = Floor.monotonicSeconds()
        for (segment, flow) in segments {
            encoder.write(segment, of: flow, into: &encoded)
            identifications.append(encoder.ipIdentification)
        }
        let encoderSeconds = Floor.monotonicSeconds() - encoderStart

        var file = PcapFileBuilder(linkType: .ethernet, snaplen: UInt32(snaplen))
        _ = file.takeBytes()                                             // the file header: not compared
        let builderStart = Floor.monotonicSeconds()
        for (index, (segment, flow)) in segments.enumerated() {
            let fromOrig = segment.from == .orig
            let orig = Endpoint(ip: flow.orig, port: flow.origPort), resp = Endpoint(ip: flow.resp, port: flow.respPort)
            let frame = FrameBuilder.tcp(
                linkType: .ethernet, source: fromOrig ? orig : resp, destination: fromOrig ? resp : orig,
                sequence: segment.sequence, acknowledgment: segment.acknowledgment, flags: segment.flags,
                window: segment.window, payloadLength: Int(segment.payloadLength),
                options: segment.flags.contains(.syn) ? (flow.isIPv6 ? FrameEncoder.synOptionsIPv6 : FrameEncoder.synOptionsIPv4) : [],
                ipIdentification: flow.isIPv6 ? 0 : identifications[index], hopLimit: fromOrig ? 57 : 64)
            file.append(frame, at: Timestamp(nanoseconds: Int64(segment.time) * 1000))
        }
        let built = file.takeBytes()
        let builderSeconds = Floor.monotonicSeconds() - builderStart

        guard built.count == encoded.count else {
            throw .mismatch("check-frames: FrameEncoder wrote \(encoded.count) bytes, FrameBuilder \(built.count)")
        }
        var offset = 0
        for index in 0..<count {
            let recordLength = 16 + (Int(encoded[offset + 8]) | Int(encoded[offset + 9]) << 8)   // caplen, little-endian
            for byte in offset..<(offset + recordLength) where !(16..<28).contains(byte - offset) {
                guard encoded[byte] == built[byte] else {
                    throw .mismatch("check-frames: frame \(index) differs at byte \(byte - offset) of its record "
                        + "(encoder \(encoded[byte]), FrameBuilder \(built[byte])): \(segments[index].0)")
                }
            }
            offset += recordLength
        }
        return Result(frames: count, encoderNanosecondsPerFrame: encoderSeconds * 1e9 / Double(count),
                      builderNanosecondsPerFrame: builderSeconds * 1e9 / Double(count))
    }
}
