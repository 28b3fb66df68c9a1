import FinwatchCore

/// Fuzz target 1: one captured frame of any link type finwatch decodes. The first input byte
/// picks the link type, the rest is the frame. Decoding must never trap (a trap is the finding),
/// and where the common frame's one-pass decoder takes a frame it must agree with the general
/// decoder, which checks every layer on its own.
package enum DecodeFuzzTarget {
    package static func run(_ input: [UInt8]) -> [String] {
        guard let selector = input.first else { return [] }
        let linkTypes = LinkType.allCases
        let linkType = linkTypes[Int(selector) % linkTypes.count]
        let frame = Array(input.dropFirst())
        let time = Timestamp(nanoseconds: 1_800_000_000_000_000_000)
        let span = frame.span.bytes
        let general = Result { () throws(DecodeError) in
            try Frame.decodeAnyTCP(span, linkType: linkType, timestamp: time, interfaceIndex: 1)
        }
        var violations: [String] = []
        if let common = Frame.commonSegment(span, linkType: linkType, timestamp: time, interfaceIndex: 1) {
            if case .success(let segment?) = general, segment == common {
                // The two decoders agree.
            } else {
                violations.append("\(linkType): the common frame's decoder gave \(common), the general one \(general)")
            }
        }
        let decoded = Result { () throws(DecodeError) in
            try Frame.decodeTCP(span, linkType: linkType, timestamp: time, interfaceIndex: 1)
        }
        if case .success(let segment?) = decoded, segment.timestamp != time {
            violations.append("\(linkType): the segment lost its timestamp")
        }
        return violations
    }
}
