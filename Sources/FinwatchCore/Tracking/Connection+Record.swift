extension Connection {
    /// The `close` event for this connection as it stands at `time`. Inlined into the one place
    /// that appends it, so the record is built where the event is, not built and then copied.
    @inline(__always)
    func closeRecord(_ kind: CloseKind, at time: Timestamp, endedBy: EndedBy?,
                     teardowns: borrowing TeardownStore) -> CloseRecord {
        var record = CloseRecord(time: time, identity: identity, close: kind)
        record.endedBy = endedBy
        record.origState = orig.state
        record.respState = resp.state
        record.origFINRetransmits = Int(orig.finRetransmits)
        record.respFINRetransmits = Int(resp.finRetransmits)
        record.finalAckRetransmits = Int(finalAckRetransmits)
        record.anomalies = anomalies
        if mayHaveLostSegments { record.anomalies.insert(.captureDrops) }
        record.history = history
        record.origPackets = Int(orig.packets)
        record.respPackets = Int(resp.packets)
        record.durations.lifetime = time.nanoseconds(since: firstSeen)
        // One return, of the one value: a return from several places copied the record (and
        // retained what it holds) into the event, then destroyed the original.
        if teardownNumber != 0 { describeTeardown(in: &record, at: time, teardowns: teardowns) }
        return record
    }

    /// The record's teardown fields: who closed and reset, the close sequence, the phases' durations.
    @inline(__always)
    private func describeTeardown(in record: inout CloseRecord, at time: Timestamp, teardowns: borrowing TeardownStore) {
        let teardown = teardowns[teardownNumber]
        record.resetBy = teardown.resetBy
        record.resetState = teardown.resetState
        record.sequenceTruncated = teardown.stepsTruncated
        if teardown.spill == 0 {
            // Most closes: the inline steps are the whole sequence, and no FIN interval was kept.
            // The record's empty arrays stay: replacing them cost a call and a release each.
            record.sequence.head = teardown.steps
        } else {
            record.sequence = teardowns.steps(teardownNumber)
            record.origFINIntervals = teardowns.intervals(teardownNumber, .orig)
            record.respFINIntervals = teardowns.intervals(teardownNumber, .resp)
        }

        guard let active = teardown.firstFINSide else {
            return   // an RST before any FIN: no teardown phases happened
        }
        record.activeCloser = teardown.crossed ? .both : (active == .orig ? .orig : .resp)
        let passive = active.peer
        let firstFIN = teardown.finTime[active.index]
        let secondFIN = teardown.finTime[passive.index]
        let firstFINAcked = teardown.finAckedTime[active.index]
        let secondFINAcked = teardown.finAckedTime[passive.index]

        func between(_ from: Timestamp?, _ to: Timestamp?) -> Int64? {
            guard let from, let to else { return nil }
            return max(0, to.nanoseconds(since: from))
        }
        record.durations.finWait1 = between(firstFIN, firstFINAcked)
        if !teardown.crossed {
            // Only a passive side has a CLOSE_WAIT; when the FINs crossed neither side was passive.
            record.durations.closeWait = between(firstFIN, secondFIN)
            if let acked = firstFINAcked, let second = secondFIN, acked <= second {
                record.durations.finWait2 = between(acked, second)
            }
            record.durations.lastAck = between(secondFIN, secondFINAcked)
        }
        if teardown.resetBy != nil {
            // An RST writes its record at once: `time` is the RST's.
            record.durations.teardown = between(firstFIN, time)
        } else if let first = firstFINAcked, let second = secondFINAcked {
            record.durations.teardown = between(firstFIN, max(first, second))
        }
    }

    /// The close class for a record written before the connection ended on the wire.
    var unfinishedCloseKind: CloseKind {
        switch phase {
        case .opening: sawSYNACK ? .unterminated : .noAnswer
        case .open: .unterminated
        case .tearingDown: (orig.sentFIN || resp.sentFIN) ? .halfClosed : .unterminated
        }
    }
}
