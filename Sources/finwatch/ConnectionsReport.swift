import FinwatchCore

/// The body of `GET /connections`, which `finwatch status` reads back: every side stuck
/// half-closed now, newest problem first (the one an operator just got paged for on top).
struct ConnectionsReport: Codable, Sendable, Equatable {
    /// `{"ip": …, "port": …}`, as in the events.
    struct Address: Codable, Sendable, Equatable {
        var ip: String
        var port: Int
    }

    /// The program holding the stuck socket (`ProcessInfo` on the wire).
    struct Process: Codable, Sendable, Equatable {
        var pid: Int32
        var comm: String
        var unit: String?
        var kernelConfirmed: Bool
        /// The Kubernetes pod, when the process runs in one; absent otherwise.
        var pod: Pod?
    }

    struct Pod: Codable, Sendable, Equatable {
        var namespace: String
        var name: String
    }

    /// Both sides' states now.
    struct States: Codable, Sendable, Equatable {
        var orig: String
        var resp: String
    }

    /// One stuck side of one connection.
    struct Row: Codable, Sendable, Equatable {
        var uid: String
        var communityId: String
        var orig: Address
        var resp: Address
        var side: String
        var state: String
        var states: States
        /// The stuck side's address (orig or resp, by `side`) and its peer's, for people.
        var endpoint: Address
        var peer: Address
        var since: String
        var ageMs: Double
        var alertFiring: Bool
        var process: Process?
    }

    /// When the report was made (host clock, RFC 3339).
    var time: String
    var capturing: Bool
    var connections: [Row]

    /// The published rows in `state` (all when nil), newest problem first; among rows of the same
    /// instant, the later connection (higher uid) first and its resp side before its orig.
    /// Compared as numbers: the uid's text would be built twice per comparison.
    static func rows(of published: LiveState.Published, only state: EndpointState?) -> [ConnectionSnapshot] {
        published.halfClosed
            .filter { state == nil || $0.state == state }
            .sorted {
                ($0.since, $0.identity.uidNumber, $0.side == .resp ? 1 : 0)
                    > ($1.since, $1.identity.uidNumber, $1.side == .resp ? 1 : 0)
            }
    }

    /// The body of `/connections` for `rows` (in their order), written straight from the
    /// snapshots into one buffer by the events' own JSON writer: no `Row`, no `String` per
    /// field. The same JSON `encoded()` writes for the equivalent report (a test holds them
    /// together); building that report first cost most of the 100 ms a request may take.
    /// `now` and the rows' `since` are in the live run's step-free frame; `wallShift` writes
    /// them as the wall clock reads (`LiveClock`).
    static func render(_ rows: [ConnectionSnapshot], capturing: Bool, now: Timestamp, wallShift: Int64 = 0,
                       processes: [String: FinwatchCore.ProcessInfo]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + rows.count * 480)
        JSONLine.append(to: &out, maximumLength: 48) { out in
            out.raw(#"{"capturing":"#)
            out.bool(capturing)
            out.raw(#","connections":["#)
        }
        for (index, row) in rows.enumerated() {
            let process = processes[LiveState.processKey(uid: row.identity.uid, side: row.side)]
            JSONLine.append(to: &out, maximumLength: Self.rowLength(process)) { out in
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out.row(row, now: now, wallShift: wallShift, process: process)
            }
        }
        JSONLine.append(to: &out, maximumLength: 48) { out in
            out.raw(#"],"time":"#)
            out.timestamp(now.adding(nanoseconds: wallShift))
            out.raw("}\n")
        }
        return out
    }

    /// A row's longest JSON: the keys (134 bytes), four IPv6 endpoints (244), the widest
    /// numbers, states and times (about 150): 525 bytes; with a process, its keys and numbers
    /// (under 128) and its own strings escaped.
    private static func rowLength(_ process: FinwatchCore.ProcessInfo?) -> Int {
        guard let process else { return 640 }
        return 640 + 128 + JSONLine.escapedLength(process.comm) + JSONLine.escapedLength(process.unit ?? "")
            + JSONLine.escapedLength(process.pod?.namespace ?? "") + JSONLine.escapedLength(process.pod?.name ?? "")
    }

    /// One line of JSON, keys in snake_case and sorted, so the output is stable: what `render`
    /// writes for the same rows, from a report already made (tests and fixtures make them).
    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + connections.count * 480)
        out += Array(#"{"capturing":"#.utf8)
        out += Array((capturing ? "true" : "false").utf8)
        out += Array(#","connections":["#.utf8)
        for (index, row) in connections.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            row.encode(into: &out)
        }
        out += Array(#"],"time":"#.utf8)
        JSONText.string(time, into: &out)
        out += Array("}\n".utf8)
        return out
    }

    /// Reads what `encoded()` wrote; nil when the bytes are not such a report. Keys in any
    /// order, unknown keys skipped (a newer daemon may add some), a missing one is not a report.
    static func decode(_ bytes: [UInt8]) -> ConnectionsReport? {
        var reader = JSONReader(bytes)
        do {
            var time: String?, capturing: Bool?, connections: [Row]?
            try reader.object { reader, key throws(JSONReader.Malformed) in
                switch key {
                case "time": time = try reader.string()
                case "capturing": capturing = try reader.bool()
                case "connections":
                    var rows: [Row] = []
                    try reader.array { reader throws(JSONReader.Malformed) in rows.append(try Row(reading: &reader)) }
                    connections = rows
                default: try reader.skipValue()
                }
            }
            try reader.expectEnd()
            guard let time, let capturing, let connections else { return nil }
            return ConnectionsReport(time: time, capturing: capturing, connections: connections)
        } catch {
            return nil   // the caller tells the user this is not a finwatch answering
        }
    }
}

extension ConnectionsReport.Row {
    /// The row's JSON object, keys sorted as JSONEncoder's `.sortedKeys` would; nil optionals omitted.
    func encode(into out: inout [UInt8]) {
        out += Array(#"{"age_ms":"#.utf8)
        out += Array("\(ageMs)".utf8)
        out += Array(#","alert_firing":"#.utf8)
        out += Array((alertFiring ? "true" : "false").utf8)
        out += Array(#","community_id":"#.utf8)
        JSONText.string(communityId, into: &out)
        out += Array(#","endpoint":"#.utf8)
        endpoint.encode(into: &out)
        out += Array(#","orig":"#.utf8)
        orig.encode(into: &out)
        out += Array(#","peer":"#.utf8)
        peer.encode(into: &out)
        if let process {
            out += Array(#","process":{"comm":"#.utf8)
            JSONText.string(process.comm, into: &out)
            out += Array(#","kernel_confirmed":"#.utf8)
            out += Array((process.kernelConfirmed ? "true" : "false").utf8)
            out += Array(#","pid":"#.utf8)
            out += Array("\(process.pid)".utf8)
            if let pod = process.pod {
                out += Array(#","pod":{"name":"#.utf8)
                JSONText.string(pod.name, into: &out)
                out += Array(#","namespace":"#.utf8)
                JSONText.string(pod.namespace, into: &out)
                out.append(UInt8(ascii: "}"))
            }
            if let unit = process.unit {
                out += Array(#","unit":"#.utf8)
                JSONText.string(unit, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        out += Array(#","resp":"#.utf8)
        resp.encode(into: &out)
        out += Array(#","side":"#.utf8)
        JSONText.string(side, into: &out)
        out += Array(#","since":"#.utf8)
        JSONText.string(since, into: &out)
        out += Array(#","state":"#.utf8)
        JSONText.string(state, into: &out)
        out += Array(#","states":{"orig":"#.utf8)
        JSONText.string(states.orig, into: &out)
        out += Array(#","resp":"#.utf8)
        JSONText.string(states.resp, into: &out)
        out += Array(#"},"uid":"#.utf8)
        JSONText.string(uid, into: &out)
        out.append(UInt8(ascii: "}"))
    }
}

/// Strings as JSON (RFC 8259 §7): quoted, with quotes, backslashes and control characters escaped.
enum JSONText {
    static func string(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(byte)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += Array("\\u00".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default:
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

extension ConnectionsReport.Address {
    func encode(into out: inout [UInt8]) {
        out += Array(#"{"ip":"#.utf8)
        JSONText.string(ip, into: &out)
        out += Array(#","port":"#.utf8)
        out += Array("\(port)".utf8)
        out.append(UInt8(ascii: "}"))
    }

    init(_ endpoint: Endpoint) { self.init(ip: endpoint.ip.description, port: Int(endpoint.port)) }

    /// "127.0.0.1:8080" or "[::1]:8080".
    var text: String { ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)" }
}

extension OutputSpan where Element == UInt8 {
    /// One `/connections` row, keys sorted as `ConnectionsReport.Row.encode` writes them.
    fileprivate mutating func row(_ row: ConnectionSnapshot, now: Timestamp, wallShift: Int64,
                                  process: FinwatchCore.ProcessInfo?) {
        raw(#"{"age_ms":"#)
        milliseconds(now.nanoseconds(since: row.since))
        raw(#","alert_firing":"#)
        bool(row.alertFiring)
        raw(#","community_id":""#)
        CommunityID.append(row.identity.orig, row.identity.resp, seed: 0, to: &self)
        raw(#"","endpoint":"#)
        endpoint(row.endpoint)
        raw(#","orig":"#)
        endpoint(row.identity.orig)
        raw(#","peer":"#)
        endpoint(row.peer)
        if let process {
            raw(#","process":{"comm":"#)
            string(process.comm)
            raw(#","kernel_confirmed":"#)
            bool(process.kernelConfirmed)
            raw(#","pid":"#)
            int(process.pid)
            if let pod = process.pod {
                raw(#","pod":{"name":"#)
                string(pod.name)
                raw(#","namespace":"#)
                string(pod.namespace)
                append(UInt8(ascii: "}"))
            }
            if let unit = process.unit {
                raw(#","unit":"#)
                string(unit)
            }
            append(UInt8(ascii: "}"))
        }
        raw(#","resp":"#)
        endpoint(row.identity.resp)
        raw(#","side":"#)
        trusted(row.side.rawValue)
        raw(#","since":"#)
        timestamp(row.since.adding(nanoseconds: wallShift))
        raw(#","state":"#)
        trusted(row.state.rawValue)
        raw(#","states":{"orig":"#)
        trusted(row.origState.rawValue)
        raw(#","resp":"#)
        trusted(row.respState.rawValue)
        raw(#"},"uid":"C"#)
        decimal(row.identity.uidNumber)
        raw(#""}"#)
    }

    /// `{"ip":"…","port":…}`.
    private mutating func endpoint(_ endpoint: Endpoint) {
        raw(#"{"ip":"#)
        address(endpoint.ip)
        raw(#","port":"#)
        decimal(UInt64(endpoint.port))
        append(UInt8(ascii: "}"))
    }
}

// MARK: - Reading back (`finwatch status`)

extension ConnectionsReport.Row {
    init(reading reader: inout JSONReader) throws(JSONReader.Malformed) {
        var uid: String?, communityId: String?, side: String?, state: String?, since: String?
        var orig: ConnectionsReport.Address?, resp: ConnectionsReport.Address?
        var endpoint: ConnectionsReport.Address?, peer: ConnectionsReport.Address?
        var states: ConnectionsReport.States?, ageMs: Double?, alertFiring: Bool?
        var process: ConnectionsReport.Process?
        try reader.object { reader, key throws(JSONReader.Malformed) in
            switch key {
            case "uid": uid = try reader.string()
            case "community_id": communityId = try reader.string()
            case "side": side = try reader.string()
            case "state": state = try reader.string()
            case "since": since = try reader.string()
            case "orig": orig = try ConnectionsReport.Address(reading: &reader)
            case "resp": resp = try ConnectionsReport.Address(reading: &reader)
            case "endpoint": endpoint = try ConnectionsReport.Address(reading: &reader)
            case "peer": peer = try ConnectionsReport.Address(reading: &reader)
            case "states": states = try ConnectionsReport.States(reading: &reader)
            case "age_ms": ageMs = try reader.number()
            case "alert_firing": alertFiring = try reader.bool()
            case "process": process = try reader.null() ? nil : try ConnectionsReport.Process(reading: &reader)
            default: try reader.skipValue()
            }
        }
        guard let uid, let communityId, let orig, let resp, let side, let state, let states, let endpoint, let peer,
              let since, let ageMs, let alertFiring else { throw JSONReader.Malformed() }
        self.init(uid: uid, communityId: communityId, orig: orig, resp: resp, side: side, state: state, states: states,
                  endpoint: endpoint, peer: peer, since: since, ageMs: ageMs, alertFiring: alertFiring, process: process)
    }
}

extension ConnectionsReport.Address {
    init(reading reader: inout JSONReader) throws(JSONReader.Malformed) {
        var ip: String?, port: Int?
        try reader.object { reader, key throws(JSONReader.Malformed) in
            switch key {
            case "ip": ip = try reader.string()
            case "port": port = try reader.integer()
            default: try reader.skipValue()
            }
        }
        guard let ip, let port else { throw JSONReader.Malformed() }
        self.init(ip: ip, port: port)
    }
}

extension ConnectionsReport.States {
    init(reading reader: inout JSONReader) throws(JSONReader.Malformed) {
        var orig: String?, resp: String?
        try reader.object { reader, key throws(JSONReader.Malformed) in
            switch key {
            case "orig": orig = try reader.string()
            case "resp": resp = try reader.string()
            default: try reader.skipValue()
            }
        }
        guard let orig, let resp else { throw JSONReader.Malformed() }
        self.init(orig: orig, resp: resp)
    }
}

extension ConnectionsReport.Process {
    init(reading reader: inout JSONReader) throws(JSONReader.Malformed) {
        var pid: Int?, comm: String?, unit: String?, kernelConfirmed: Bool?, pod: ConnectionsReport.Pod?
        try reader.object { reader, key throws(JSONReader.Malformed) in
            switch key {
            case "pid": pid = try reader.integer()
            case "comm": comm = try reader.string()
            case "unit": unit = try reader.null() ? nil : try reader.string()
            case "kernel_confirmed": kernelConfirmed = try reader.bool()
            case "pod": pod = try reader.null() ? nil : try ConnectionsReport.Pod(reading: &reader)
            default: try reader.skipValue()
            }
        }
        guard let pid, let pid32 = Int32(exactly: pid), let comm, let kernelConfirmed else { throw JSONReader.Malformed() }
        self.init(pid: pid32, comm: comm, unit: unit, kernelConfirmed: kernelConfirmed, pod: pod)
    }
}

extension ConnectionsReport.Pod {
    init(reading reader: inout JSONReader) throws(JSONReader.Malformed) {
        var namespace: String?, name: String?
        try reader.object { reader, key throws(JSONReader.Malformed) in
            switch key {
            case "namespace": namespace = try reader.string()
            case "name": name = try reader.string()
            default: try reader.skipValue()
            }
        }
        guard let namespace, let name else { throw JSONReader.Malformed() }
        self.init(namespace: namespace, name: name)
    }
}
