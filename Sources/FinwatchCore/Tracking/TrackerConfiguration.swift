/// Everything the tracker's behaviour depends on, in nanoseconds. Defaults are the README's.
package struct TrackerConfiguration: Sendable, Equatable {
    /// Alert when a side stays in CLOSE_WAIT this long: its program has not called close().
    package var closeWaitThreshold: Int64 = 60 * DurationText.second
    /// Alert for FIN_WAIT_2: the peer acknowledged our FIN but never sent its own. Linux gives
    /// an orphaned socket tcp_fin_timeout (60 s) here.
    package var finWait2Threshold: Int64 = 60 * DurationText.second
    /// Alert for LAST_ACK: our FIN is never acknowledged (a peer gone away).
    package var lastAckThreshold: Int64 = 30 * DurationText.second
    /// How long the active closer is held in TIME_WAIT (2*MSL; Linux: a fixed 60 s).
    package var timeWait: Int64 = 60 * DurationText.second
    /// Bound on tracked connections, TIME_WAIT residues included.
    package var maxConnections: Int = 262_144
    /// The largest `maxConnections` the command line takes: the index numbers slots in 32 bits,
    /// and 100 million connections already bound memory at about 40 GB.
    package static let maximumConnectionsLimit = 100_000_000
    /// Idle timeouts by phase, like conntrack's: a connection silent this long is closed with
    /// `ended_by: idle_timeout`. Half-closed ones are kept longest: they are what users watch.
    package var idleTimeoutHandshake: Int64 = 120 * DurationText.second
    package var idleTimeoutEstablished: Int64 = 5 * 24 * 3600 * DurationText.second
    package var idleTimeoutHalfClosed: Int64 = 24 * 3600 * DurationText.second
    /// A segment identical to one just seen (same seq, ack, flags, length and IP id) within this
    /// window is a copy captured on another interface, not a retransmission (`any` sees one
    /// segment on a veth, a bridge and the uplink). Linux's minimum RTO is 200 ms.
    package var duplicateWindow: Int64 = 20 * DurationText.millisecond
    /// `--metrics-ports`: endpoints are also counted by these service ports (nil: not at all).
    package var metricsPorts: PortBreakdown?
    /// Live: warn when the local ports held toward one destination reach this (nil: not watched;
    /// offline there is no host whose port range applies).
    package var portExhaustion: PortExhaustionThreshold?
    /// The trackers (`--workers`) sharing the destinations: each checks its share of the threshold.
    package var portExhaustionShards = 1
    /// The local port range when the run starts; the executable updates the table as it changes.
    package var ephemeralPortRange: EphemeralPortRange?

    package init() {}

    package func threshold(for alert: AlertKind) -> Int64 {
        switch alert {
        case .closeWaitLingering: closeWaitThreshold
        case .finWait2Lingering: finWait2Threshold
        case .lastAckLingering: lastAckThreshold
        }
    }
}
