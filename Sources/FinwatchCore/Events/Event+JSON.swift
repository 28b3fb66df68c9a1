extension Event {
    /// Appends this event as one JSON line (with its trailing newline) to `buffer`. Field names
    /// and order follow CONTRACT.md; fields beyond the contract come after its own.
    package func appendJSONLine(to buffer: inout [UInt8]) {
        JSONWriter.appending(to: &buffer) { json in
            json.beginObject()
            switch self {
            case .start(let start): start.write(to: &json)
            case .close(let record): record.write(to: &json)
            case .alert(let alert): alert.write(to: &json)
            case .anomaly(let anomaly): anomaly.write(to: &json)
            case .stats(let stats): stats.write(type: "stats", to: &json)
            case .stop(let stats): stats.write(type: "stop", to: &json)
            }
            json.endObject()
            json.put(UInt8(ascii: "\n"))
        }
    }

    /// The JSON line as a string, without its newline (tests, the selftest report).
    package var jsonLine: String {
        var bytes: [UInt8] = []
        appendJSONLine(to: &bytes)
        return String(decoding: bytes.dropLast(), as: UTF8.self)
    }
}

extension JSONWriter {
    mutating func header(_ type: StaticString, _ time: Timestamp) {
        key("type"); literal(type)
        key("ts"); timestamp(time)
    }

    mutating func endpoint(_ endpoint: Endpoint) {
        beginObject()
        key("ip"); address(endpoint.ip)
        key("port"); int(endpoint.port)
        endObject()
    }

    mutating func identity(_ identity: ConnectionIdentity) {
        key("uid"); separate()
        put(UInt8(ascii: "\""))
        put(UInt8(ascii: "C"))
        appendDecimal(identity.uidNumber)
        put(UInt8(ascii: "\""))
        key("community_id"); separate()
        put(UInt8(ascii: "\""))
        CommunityID.append(identity.orig, identity.resp, seed: 0, to: &self)
        put(UInt8(ascii: "\""))
        key("orig"); endpoint(identity.orig)
        key("resp"); endpoint(identity.resp)
        key("handshake_seen"); bool(identity.handshakeSeen)
    }

    mutating func intervals(_ values: [Int64]) {
        beginArray()
        for value in values { milliseconds(value) }
        endArray()
    }
}

extension CloseRecord {
    func write(to json: inout JSONWriter) {
        json.header("close", time)
        json.identity(identity)
        json.key("close"); json.trusted(close.rawValue)
        json.key("active_closer"); json.trusted(activeCloser?.rawValue)
        json.key("reset_by"); json.trusted(resetBy?.rawValue)
        json.key("reset_state"); json.trusted(resetState?.rawValue)
        json.key("states"); json.beginObject()
        json.key("orig"); json.trusted(origState.rawValue)
        json.key("resp"); json.trusted(respState.rawValue)
        json.endObject()
        json.key("durations_ms"); json.beginObject()
        json.key("fin_wait_1"); json.milliseconds(durations.finWait1)
        json.key("fin_wait_2"); json.milliseconds(durations.finWait2)
        json.key("close_wait"); json.milliseconds(durations.closeWait)
        json.key("last_ack"); json.milliseconds(durations.lastAck)
        json.key("teardown"); json.milliseconds(durations.teardown)
        json.key("lifetime"); json.milliseconds(durations.lifetime)
        json.endObject()
        json.key("retransmits"); json.beginObject()
        json.key("orig_fin"); json.int(origFINRetransmits)
        json.key("resp_fin"); json.int(respFINRetransmits)
        json.key("final_ack"); json.int(finalAckRetransmits)
        json.endObject()
        json.key("anomalies"); json.beginArray()
        for anomaly in anomalies { json.trusted(anomaly.rawValue) }
        json.endArray()
        json.key("sequence"); json.beginArray()
        for step in sequence {
            json.beginObject()
            json.key("from"); json.trusted(step.from.rawValue)
            json.key("flags"); json.trusted(step.flags.contractLetters)
            json.key("ms"); json.milliseconds(step.offset)
            json.endObject()
        }
        json.endArray()
        if sequenceTruncated { json.key("sequence_truncated"); json.bool(true) }
        json.key("history"); json.trusted(history)
        json.key("packets"); json.beginObject()
        json.key("orig"); json.int(origPackets)
        json.key("resp"); json.int(respPackets)
        json.endObject()
        if !origFINIntervals.isEmpty || !respFINIntervals.isEmpty {
            json.key("fin_retransmit_intervals_ms"); json.beginObject()
            json.key("orig"); json.intervals(origFINIntervals)
            json.key("resp"); json.intervals(respFINIntervals)
            json.endObject()
        }
        if let endedBy { json.key("ended_by"); json.string(endedBy) }
    }
}

extension AlertEvent {
    func write(to json: inout JSONWriter) {
        json.header("alert", time)
        json.identity(identity)
        json.key("alert"); json.trusted(alert.rawValue)
        json.key("status"); json.trusted(status.rawValue)
        json.key("side"); json.trusted(side.rawValue)
        json.key("state"); json.trusted(state.rawValue)
        json.key("since"); json.timestamp(since)
        json.key("duration_ms"); json.milliseconds(duration)
        json.key("threshold_ms"); json.milliseconds(threshold)
        if let process {
            json.key("process"); json.beginObject()
            json.key("pid"); json.int(process.pid)
            json.key("comm"); json.string(process.comm)
            json.key("unit"); json.string(process.unit)
            json.key("kernel_confirmed"); json.bool(process.kernelConfirmed)
            json.endObject()
        }
        if let resolvedTo { json.key("resolved_to"); json.trusted(resolvedTo.rawValue) }
    }
}

extension AnomalyEvent {
    func write(to json: inout JSONWriter) {
        json.header("anomaly", time)
        json.identity(identity)
        json.key("anomaly"); json.trusted(anomaly.rawValue)
        if let side { json.key("side"); json.trusted(side.rawValue) }
        if let state { json.key("state"); json.trusted(state.rawValue) }
        if let count { json.key("count"); json.int(count) }
        if !intervals.isEmpty { json.key("intervals_ms"); json.intervals(intervals) }
        if let detail { json.key("detail"); json.string(detail) }
    }
}

extension RunStart {
    func write(to json: inout JSONWriter) {
        json.header("start", time)
        json.key("version"); json.string(version)
        json.key("source"); json.string(source)
        json.key("source_kind"); json.string(sourceKind)
        json.key("filter"); json.string(filter)
        json.key("link_type"); json.string(linkType)
        json.key("thresholds"); json.beginObject()
        for (name, nanoseconds) in thresholds {
            json.key(dynamic: name + "_ms"); json.milliseconds(nanoseconds)
        }
        json.endObject()
        json.key("max_connections"); json.int(maxConnections)
    }
}

extension RunStats {
    func write(type: StaticString, to json: inout JSONWriter) {
        json.header(type, time)
        json.key("packets"); json.beginObject()
        json.key("seen"); json.int(packetsSeen)
        json.key("decoded"); json.int(packetsDecoded)
        json.key("malformed"); json.int(packetsMalformed)
        json.key("skipped"); json.int(packetsSkipped)
        json.key("duplicate"); json.int(packetsDuplicate)
        json.endObject()
        json.key("connections_tracked"); json.int(connectionsTracked)
        json.key("endpoints"); json.beginObject()
        for state in EndpointState.allCases {
            json.key(dynamic: state.rawValue); json.int(endpointsByState[state] ?? 0)
        }
        json.endObject()
        json.key("events_written"); json.int(eventsWritten)
        json.key("write_errors"); json.int(writeErrors)
        json.key("lines_dropped"); json.int(linesDropped)
        json.key("capture"); json.beginObject()
        json.key("received"); captureReceived.map { json.int($0) } ?? json.null()
        json.key("drops_kernel"); dropsKernel.map { json.int($0) } ?? json.null()
        json.key("drops_interface"); dropsInterface.map { json.int($0) } ?? json.null()
        json.endObject()
        json.key("evictions"); json.int(evictions)
        if let reason { json.key("reason"); json.string(reason) }
    }
}
