import FinwatchCore
import Foundation

/// Fuzz target 3: every event the tracker target produces, written as a JSON line. Each line must
/// be one line ending in a newline, fit the length reserved for it (a wrong bound would trap in
/// the writer: that is a finding too), and parse as a JSON object with the event's `type`.
package enum EventLineFuzzTarget {
    package static func run(_ input: [UInt8]) -> [String] {
        var violations: [String] = []
        var buffer: [UInt8] = []
        let tracker = TrackerFuzzTarget.run(input) { event in
            buffer.removeAll(keepingCapacity: true)
            event.appendJSONLine(to: &buffer)
            if let problem = problem(with: buffer, of: event), violations.count < 8 { violations.append(problem) }
        }
        return tracker + violations
    }

    static func problem(with line: [UInt8], of event: Event) -> String? {
        let text = String(decoding: line, as: UTF8.self)
        guard line.last == UInt8(ascii: "\n"), line.dropLast().allSatisfy({ $0 != UInt8(ascii: "\n") }) else {
            return "not one line: \(text)"
        }
        guard line.count <= event.maximumJSONLength else {
            return "\(line.count) bytes, \(event.maximumJSONLength) reserved: \(text)"
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
            return "not a JSON object: \(text)"
        }
        guard object["type"] is String, object["ts"] is String else { return "no type or ts: \(text)" }
        return nil
    }
}
