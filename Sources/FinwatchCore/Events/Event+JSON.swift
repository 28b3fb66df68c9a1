extension Event {
    /// Appends this event as one JSON line (with its trailing newline) to `buffer`. Field names
    /// and order follow CONTRACT.md; fields beyond the contract come after its own.
    package func appendJSONLine(to buffer: inout [UInt8]) {
        JSONLine.append(to: &buffer, maximumLength: maximumJSONLength) { out in
            switch self {
            case .start(let start): start.write(to: &out)
            case .close(let record): record.write(to: &out)
            case .alert(let alert): alert.write(to: &out)
            case .anomaly(let anomaly): anomaly.write(to: &out)
            case .stats(let stats): stats.write(stop: false, to: &out)
            case .stop(let stats): stats.write(stop: true, to: &out)
            }
            out.raw("}\n")
        }
    }

    /// The JSON line as a string, without its newline (tests, the selftest report).
    package var jsonLine: String {
        var bytes: [UInt8] = []
        appendJSONLine(to: &bytes)
        return String(decoding: bytes.dropLast(), as: UTF8.self)
    }

    /// The longest this event's line can be, newline included: reserved before it is written.
    /// Each bound is the fixed text plus the widest value of every field; the tests write the
    /// largest events there are and hold them to it.
    package var maximumJSONLength: Int {
        switch self {
        case .start(let start): start.maximumJSONLength
        case .close(let record): record.maximumJSONLength
        case .alert(let alert): alert.maximumJSONLength
        case .anomaly(let anomaly): anomaly.maximumJSONLength
        case .stats(let stats), .stop(let stats): stats.maximumJSONLength
        }
    }
}

extension ConnectionIdentity {
    /// The identity's fields, and the tunnel list when there is one: each layer at most
    /// `{"kind":"teredo","outer":{"src":"<41>","dst":"<41>"},"session":4294967295},` (128).
    var maximumJSONLength: Int { Widest.identity + (tunnel.map { 12 + 128 * $0.count } ?? 0) }
}

/// Widths the bounds are made of.
private enum Widest {
    /// `{"type":"anomaly","ts":"…"` and the closing `}\n`.
    static let header = 64
    /// uid, community_id, orig, resp, handshake_seen with their keys (239 at most).
    static let identity = 256
    /// An unsigned or signed 64-bit integer.
    static let integer = 20
    /// `milliseconds` and a comma.
    static let milliseconds = 19
    /// `{"from":"orig","flags":"SFRPA","ms":…},` (57 at most).
    static let sequenceStep = 64
    /// `,"conn_state":"RSTOS0"` (22).
    static let connState = 24
    /// `,"ended_by":"end_of_input"` (27).
    static let endedBy = 32
}

extension OutputSpan where Element == UInt8 {
    /// `{"type":"close","ts":"…"`: the start of every line.
    mutating func header(_ type: StaticString, _ time: Timestamp) {
        raw(#"{"type":""#)
        raw(type)
        raw(#"","ts":"#)
        timestamp(time)
    }

    mutating func identity(_ identity: ConnectionIdentity) {
        raw(#","uid":"C"#)
        decimal(identity.uidNumber)
        raw(#"","community_id":""#)
        // "1:" and 28 characters of base64.
        guard room(for: 30) else { return }
        CommunityID.append(identity.orig, identity.resp, seed: 0, to: &self)
        raw(#"","orig":{"ip":"#)
        address(identity.orig.ip)
        raw(#","port":"#)
        decimal(UInt64(identity.orig.port))
        raw(#"},"resp":{"ip":"#)
        address(identity.resp.ip)
        raw(#","port":"#)
        decimal(UInt64(identity.resp.port))
        raw(#"},"handshake_seen":"#)
        bool(identity.handshakeSeen)
        if let tunnel = identity.tunnel { self.tunnel(tunnel) }
    }

    /// `,"tunnel":[{"kind":"vxlan","outer":{"src":"…","dst":"…"},"vni":42},…]`, outer first.
    mutating func tunnel(_ layers: [TunnelLayer]) {
        raw(#","tunnel":["#)
        for (index, layer) in layers.enumerated() {
            if index > 0 { raw(",") }
            raw(#"{"kind":"#)
            trusted(layer.kind.name)
            if let source = layer.outerSource, let destination = layer.outerDestination {
                raw(#","outer":{"src":"#)
                address(source)
                raw(#","dst":"#)
                address(destination)
                raw("}")
            }
            if let name = layer.kind.identifierName, let identifier = layer.identifier {
                raw(",")
                trusted(name)
                raw(":")
                decimal(UInt64(identifier))
            }
            raw("}")
        }
        raw("]")
    }

    /// A history's letters in quotes (at most 26 bytes), read from the value as they are written.
    mutating func letters(_ history: History) {
        guard room(for: 26) else { return }
        append(UInt8(ascii: "\""))
        history.forEachASCII { append($0) }
        append(UInt8(ascii: "\""))
    }

    mutating func intervals(_ values: [Int64]) {
        byte(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { byte(UInt8(ascii: ",")) }
            milliseconds(value)
        }
        byte(UInt8(ascii: "]"))
    }

    /// The contract's flag letters for a close `sequence`: from `S F R P A`, in that order.
    mutating func contractLetters(_ flags: TCPFlags) {
        guard room(for: 5) else { return }
        if flags.contains(.syn) { append(UInt8(ascii: "S")) }
        if flags.contains(.fin) { append(UInt8(ascii: "F")) }
        if flags.contains(.rst) { append(UInt8(ascii: "R")) }
        if flags.contains(.psh) { append(UInt8(ascii: "P")) }
        if flags.contains(.ack) { append(UInt8(ascii: "A")) }
    }
}

extension CloseRecord {
    var maximumJSONLength: Int {
        Widest.header + identity.maximumJSONLength + 768 + Widest.connState + Widest.endedBy + Widest.sequenceStep * sequence.count
            + Widest.milliseconds * (origFINIntervals.count + respFINIntervals.count)
    }

    func write(to out: inout OutputSpan<UInt8>) {
        out.header("close", time)
        out.identity(identity)
        out.raw(#","close":"#); out.trusted(close.rawValue)
        out.raw(#","active_closer":"#); out.trusted(activeCloser?.rawValue)
        out.raw(#","reset_by":"#); out.trusted(resetBy?.rawValue)
        out.raw(#","reset_state":"#); out.trusted(resetState?.rawValue)
        out.raw(#","states":{"orig":"#); out.trusted(origState.rawValue)
        out.raw(#","resp":"#); out.trusted(respState.rawValue)
        out.raw(#"},"durations_ms":{"fin_wait_1":"#); out.milliseconds(durations.finWait1)
        out.raw(#","fin_wait_2":"#); out.milliseconds(durations.finWait2)
        out.raw(#","close_wait":"#); out.milliseconds(durations.closeWait)
        out.raw(#","last_ack":"#); out.milliseconds(durations.lastAck)
        out.raw(#","teardown":"#); out.milliseconds(durations.teardown)
        out.raw(#","lifetime":"#); out.milliseconds(durations.lifetime)
        out.raw(#"},"retransmits":{"orig_fin":"#); out.int(origFINRetransmits)
        out.raw(#","resp_fin":"#); out.int(respFINRetransmits)
        out.raw(#","final_ack":"#); out.int(finalAckRetransmits)
        out.raw(#"},"anomalies":["#)
        var first = true
        for anomaly in anomalies {
            if !first { out.byte(UInt8(ascii: ",")) }
            out.trusted(anomaly.rawValue)
            first = false
        }
        out.raw(#"],"sequence":["#)
        var firstStep = true
        for step in sequence {
            out.raw(firstStep ? #"{"from":""# : #",{"from":""#)
            firstStep = false
            out.raw(step.from == .orig ? "orig" : "resp")
            out.raw(#"","flags":""#)
            out.contractLetters(step.flags)
            out.raw(#"","ms":"#)
            out.milliseconds(step.offset)
            out.byte(UInt8(ascii: "}"))
        }
        out.byte(UInt8(ascii: "]"))
        if sequenceTruncated { out.raw(#","sequence_truncated":true"#) }
        out.raw(#","history":"#); out.letters(history)
        out.raw(#","conn_state":"#); out.trusted(connState.rawValue)
        out.raw(#","packets":{"orig":"#); out.int(origPackets)
        out.raw(#","resp":"#); out.int(respPackets)
        out.byte(UInt8(ascii: "}"))
        if !origFINIntervals.isEmpty || !respFINIntervals.isEmpty {
            out.raw(#","fin_retransmit_intervals_ms":{"orig":"#); out.intervals(origFINIntervals)
            out.raw(#","resp":"#); out.intervals(respFINIntervals)
            out.byte(UInt8(ascii: "}"))
        }
        if let endedBy { out.raw(#","ended_by":"#); out.trusted(endedBy.rawValue) }
    }
}

extension AlertEvent {
    var maximumJSONLength: Int {
        Widest.header + identity.maximumJSONLength + 512
            + (process.map { JSONLine.escapedLength($0.comm) + ($0.unit.map(JSONLine.escapedLength) ?? 0) } ?? 0)
            + (process?.pod.map { 32 + JSONLine.escapedLength($0.namespace) + JSONLine.escapedLength($0.name) } ?? 0)
    }

    func write(to out: inout OutputSpan<UInt8>) {
        out.header("alert", time)
        out.identity(identity)
        out.raw(#","alert":"#); out.trusted(alert.rawValue)
        out.raw(#","status":"#); out.trusted(status.rawValue)
        out.raw(#","side":"#); out.trusted(side.rawValue)
        out.raw(#","state":"#); out.trusted(state.rawValue)
        out.raw(#","since":"#); out.timestamp(since)
        out.raw(#","duration_ms":"#); out.milliseconds(duration)
        out.raw(#","threshold_ms":"#); out.milliseconds(threshold)
        if let process {
            out.raw(#","process":{"pid":"#); out.int(process.pid)
            out.raw(#","comm":"#); out.string(process.comm)
            out.raw(#","unit":"#); out.string(process.unit)
            out.raw(#","kernel_confirmed":"#); out.bool(process.kernelConfirmed)
            if let pod = process.pod {
                out.raw(#","pod":{"namespace":"#); out.string(pod.namespace)
                out.raw(#","name":"#); out.string(pod.name)
                out.byte(UInt8(ascii: "}"))
            }
            out.byte(UInt8(ascii: "}"))
        }
        if let resolvedTo { out.raw(#","resolved_to":"#); out.trusted(resolvedTo.rawValue) }
    }
}

extension AnomalyEvent {
    var maximumJSONLength: Int {
        Widest.header + identity.maximumJSONLength + 256 + Widest.milliseconds * (intervals.count + 1)
            + (detail.map(JSONLine.escapedLength) ?? 0) + (portExhaustion == nil ? 0 : 128)
    }

    func write(to out: inout OutputSpan<UInt8>) {
        out.header("anomaly", time)
        out.identity(identity)
        out.raw(#","anomaly":"#); out.trusted(anomaly.rawValue)
        if let side { out.raw(#","side":"#); out.trusted(side.rawValue) }
        if let state { out.raw(#","state":"#); out.trusted(state.rawValue) }
        if let count { out.raw(#","count":"#); out.int(count) }
        if let interval { out.raw(#","interval_ms":"#); out.milliseconds(interval) }
        if !intervals.isEmpty { out.raw(#","intervals_ms":"#); out.intervals(intervals) }
        if let detail { out.raw(#","detail":"#); out.string(detail) }
        if let portExhaustion {
            // `,"time_wait":…,"threshold":…,"port_range":{"low":…,"high":…}`: at most 95 bytes.
            out.raw(#","time_wait":"#); out.int(portExhaustion.timeWait)
            out.raw(#","threshold":"#); out.int(portExhaustion.threshold)
            out.raw(#","port_range":{"low":"#); out.int(Int(portExhaustion.range.low))
            out.raw(#","high":"#); out.int(Int(portExhaustion.range.high))
            out.append(UInt8(ascii: "}"))
        }
    }
}

extension RunStart {
    var maximumJSONLength: Int {
        var length = Widest.header + 256
        for text in [version, source, filter, linkType ?? ""] { length += JSONLine.escapedLength(text) }
        for threshold in thresholds { length += JSONLine.escapedLength(threshold.name) + 8 + Widest.milliseconds }
        return length
    }

    func write(to out: inout OutputSpan<UInt8>) {
        out.header("start", time)
        out.raw(#","version":"#); out.string(version)
        out.raw(#","source":"#); out.string(source)
        out.raw(#","source_kind":"#); out.trusted(sourceKind.rawValue)
        out.raw(#","filter":"#); out.string(filter)
        out.raw(#","link_type":"#); out.string(linkType)
        out.raw(#","thresholds":{"#)
        for (index, threshold) in thresholds.enumerated() {
            if index > 0 { out.byte(UInt8(ascii: ",")) }
            out.string(threshold.name + "_ms")
            out.byte(UInt8(ascii: ":"))
            out.milliseconds(threshold.nanoseconds)
        }
        out.raw(#"},"max_connections":"#); out.int(maxConnections)
    }
}

extension RunStats {
    var maximumJSONLength: Int {
        Widest.header + 640 + EndpointState.allCases.count * (16 + Widest.integer)
            + 32   // `,"reason":"output_closed"`
    }

    func write(stop: Bool, to out: inout OutputSpan<UInt8>) {
        out.header(stop ? "stop" : "stats", time)
        out.raw(#","packets":{"seen":"#); out.int(packetsSeen)
        out.raw(#","decoded":"#); out.int(packetsDecoded)
        out.raw(#","malformed":"#); out.int(packetsMalformed)
        out.raw(#","skipped":"#); out.int(packetsSkipped)
        out.raw(#","duplicate":"#); out.int(packetsDuplicate)
        out.raw(#"},"connections_tracked":"#); out.int(connectionsTracked)
        out.raw(#","endpoints":{"#)
        for (index, state) in EndpointState.allCases.enumerated() {
            if index > 0 { out.byte(UInt8(ascii: ",")) }
            out.trusted(state.rawValue)
            out.byte(UInt8(ascii: ":"))
            out.int(endpointsByState[state] ?? 0)
        }
        out.raw(#"},"events_written":"#); out.int(eventsWritten)
        out.raw(#","write_errors":"#); out.int(writeErrors)
        out.raw(#","lines_dropped":"#); out.int(linesDropped)
        out.raw(#","capture":{"received":"#); out.optionalInt(captureReceived)
        out.raw(#","drops_kernel":"#); out.optionalInt(dropsKernel)
        out.raw(#","drops_interface":"#); out.optionalInt(dropsInterface)
        out.raw(#"},"evictions":"#); out.int(evictions)
        if let reason { out.raw(#","reason":"#); out.trusted(reason.rawValue) }
    }
}

extension OutputSpan where Element == UInt8 {
    /// `int`, or `null`.
    mutating func optionalInt(_ value: UInt64?) {
        if let value { decimal(value) } else { raw("null") }
    }
}
