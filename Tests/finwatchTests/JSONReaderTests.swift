@testable import finwatch
import Foundation
import Testing

/// `finwatch status` reads `/connections` with `JSONReader`: whatever comes back, a report or nil,
/// never a trap.
@Suite("reading /connections back") struct JSONReaderTests {
    static let row = #"{"age_ms":1.5,"alert_firing":true,"community_id":"1:a+/=","endpoint":{"ip":"::1","port":80},"#
        + #""orig":{"ip":"198.18.0.1","port":40000},"peer":{"ip":"198.18.0.1","port":40000},"#
        + #""process":{"comm":"nginx","kernel_confirmed":true,"pid":7},"resp":{"ip":"::1","port":80},"#
        + #""side":"resp","since":"2026-12-03T14:00:00.000001Z","state":"CLOSE_WAIT","#
        + #""states":{"orig":"FIN_WAIT_2","resp":"CLOSE_WAIT"},"uid":"C7"}"#
    static let report = #"{"capturing":true,"connections":["# + row + #"],"time":"2026-12-03T14:00:01.000000Z"}"#

    @Test("whitespace, any key order and keys a newer finwatch adds: the same report")
    func whitespaceOrderAndUnknownKeys_sameReport() throws {
        let plain = try #require(ConnectionsReport.decode(Array(Self.report.utf8)))
        let other = """
            { "time" : "2026-12-03T14:00:01.000000Z", "future" : {"a": [1, -2.5e3, null, true, "x\\"y"]},
              "connections" : [ \(Self.row.replacingOccurrences(of: #""uid":"C7""#, with: #""uid":"C7","extra":[{}]"#)) ],
              "capturing" : true }\n
            """
        #expect(ConnectionsReport.decode(Array(other.utf8)) == plain)
        #expect(plain.connections.first?.process?.comm == "nginx")
        #expect(plain.connections.first?.ageMs == 1.5)
    }

    @Test("escapes: quotes, slashes, control characters, \\u with surrogate pairs; a lone surrogate is U+FFFD")
    func escapes_decoded() throws {
        let comm = #"a\"b\\c\/d\n\u00e9\ud83d\ude00\ud800x"#
        let text = Self.report.replacingOccurrences(of: #""comm":"nginx""#, with: #""comm":""# + comm + #"""#)
        let report = try #require(ConnectionsReport.decode(Array(text.utf8)))
        #expect(report.connections.first?.process?.comm == "a\"b\\c/d\né😀\u{FFFD}x")
    }

    @Test("every truncation of a report, wrong types, missing keys and trailing bytes: nil")
    func malformed_isNil() {
        let bytes = Array(Self.report.utf8)
        for end in 0..<bytes.count { #expect(ConnectionsReport.decode(Array(bytes[0..<end])) == nil, "\(end) bytes") }
        for broken in [
            Self.report.replacingOccurrences(of: #""capturing":true"#, with: #""capturing":"yes""#),
            Self.report.replacingOccurrences(of: #""pid":7"#, with: #""pid":7.5"#),
            Self.report.replacingOccurrences(of: #""pid":7"#, with: #""pid":99999999999"#),
            Self.report.replacingOccurrences(of: #""uid":"C7""#, with: #""uid":7"#),
            Self.report.replacingOccurrences(of: #","time":"2026-12-03T14:00:01.000000Z""#, with: ""),
            Self.report.replacingOccurrences(of: #""age_ms":1.5"#, with: #""age_ms":1."#),
            Self.report.replacingOccurrences(of: #""1:a+/=""#, with: #""1:a+\q=""#),
            Self.report + "x",
            "[]", "", "{}", "null",
        ] {
            #expect(ConnectionsReport.decode(Array(broken.utf8)) == nil, "\(broken.prefix(80))")
        }
    }
}
