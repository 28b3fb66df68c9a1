/// What the tracker reports. Connection events carry the connection's identity; the run events
/// (`start`, `stats`, `stop`) are built by the executable from what it knows of the capture.
package enum Event: Sendable, Equatable {
    case start(RunStart)
    case close(CloseRecord)
    case alert(AlertEvent)
    case anomaly(AnomalyEvent)
    case stats(RunStats)
    case stop(RunStats)

    /// The time that caused the event: the packet time offline, the host time live.
    package var time: Timestamp {
        switch self {
        case .start(let e): e.time
        case .close(let e): e.time
        case .alert(let e): e.time
        case .anomaly(let e): e.time
        case .stats(let e), .stop(let e): e.time
        }
    }
}

/// Who a connection event is about: the same on all of one connection's events.
package struct ConnectionIdentity: Sendable, Equatable {
    /// The uid's number: unique within this run, in order of first packet, so offline output is
    /// reproducible. Kept as a number: the text is made only where it is written.
    package var uidNumber: UInt64
    package var orig: Endpoint
    package var resp: Endpoint
    package var handshakeSeen: Bool
    /// The encapsulations the connection was first seen through, outer first; nil for a plain
    /// connection (which then writes no `tunnel` field, and allocates nothing for it).
    package var tunnel: [TunnelLayer]?

    package init(uidNumber: UInt64, orig: Endpoint, resp: Endpoint, handshakeSeen: Bool, tunnel: [TunnelLayer]? = nil) {
        self.uidNumber = uidNumber
        self.orig = orig
        self.resp = resp
        self.handshakeSeen = handshakeSeen
        self.tunnel = tunnel
    }

    /// From a uid's text (`C` and a number), as tests and fixtures write it.
    package init(uid: String, orig: Endpoint, resp: Endpoint, handshakeSeen: Bool) {
        guard uid.first == "C", let number = UInt64(uid.dropFirst()) else {
            preconditionFailure("a uid is C and a number, got \(uid)")
        }
        self.init(uidNumber: number, orig: orig, resp: resp, handshakeSeen: handshakeSeen)
    }

    /// `C` followed by the number: `C1`, `C2` …
    package var uid: String { "C\(uidNumber)" }

    /// Community ID v1 (seed 0) of the flow, the same for both directions.
    package var communityID: String { CommunityID.v1(orig, resp, seed: 0) }
}

/// The six teardown phases in nanoseconds, `nil` where the phase did not happen. Stored with
/// `Int64.min` for none (never a duration): an `Int64?` pads to 16 bytes, and every close record
/// is copied on its way to the output.
package struct TeardownDurations: Sendable, Equatable {
    private var storedFINWait1 = Int64.min
    private var storedFINWait2 = Int64.min
    private var storedCloseWait = Int64.min
    private var storedLastAck = Int64.min
    private var storedTeardown = Int64.min
    private var storedLifetime = Int64.min

    package var finWait1: Int64? { get { Self.value(storedFINWait1) } set { storedFINWait1 = newValue ?? .min } }
    package var finWait2: Int64? { get { Self.value(storedFINWait2) } set { storedFINWait2 = newValue ?? .min } }
    package var closeWait: Int64? { get { Self.value(storedCloseWait) } set { storedCloseWait = newValue ?? .min } }
    package var lastAck: Int64? { get { Self.value(storedLastAck) } set { storedLastAck = newValue ?? .min } }
    package var teardown: Int64? { get { Self.value(storedTeardown) } set { storedTeardown = newValue ?? .min } }
    package var lifetime: Int64? { get { Self.value(storedLifetime) } set { storedLifetime = newValue ?? .min } }

    package init(finWait1: Int64? = nil, finWait2: Int64? = nil, closeWait: Int64? = nil,
                 lastAck: Int64? = nil, teardown: Int64? = nil, lifetime: Int64? = nil) {
        self.finWait1 = finWait1
        self.finWait2 = finWait2
        self.closeWait = closeWait
        self.lastAck = lastAck
        self.teardown = teardown
        self.lifetime = lifetime
    }

    @inline(__always)
    private static func value(_ stored: Int64) -> Int64? { stored == .min ? nil : stored }
}

/// The `close` event: one per connection.
package struct CloseRecord: Sendable, Equatable {
    package var time: Timestamp
    package var identity: ConnectionIdentity
    package var close: CloseKind
    package var activeCloser: ActiveCloser?
    package var resetBy: Side?
    package var resetState: EndpointState?
    package var origState: EndpointState
    package var respState: EndpointState
    package var durations: TeardownDurations
    package var origFINRetransmits: Int
    package var respFINRetransmits: Int
    package var finalAckRetransmits: Int
    /// Intervals between successive copies of each side's FIN, in ns: the back-off evidence.
    package var origFINIntervals: [Int64]
    package var respFINIntervals: [Int64]
    package var anomalies: AnomalySet
    package var sequence: CloseSequence
    package var sequenceTruncated: Bool
    /// The letters as a value: the text is written straight into the JSON line, never made here.
    package var history: History
    package var origPackets: Int
    package var respPackets: Int
    /// Why the record was written before a natural end; nil when the teardown completed on the wire.
    package var endedBy: EndedBy?

    package init(time: Timestamp, identity: ConnectionIdentity, close: CloseKind) {
        self.time = time
        self.identity = identity
        self.close = close
        activeCloser = nil
        resetBy = nil
        resetState = nil
        origState = .closed
        respState = .closed
        durations = TeardownDurations()
        origFINRetransmits = 0
        respFINRetransmits = 0
        finalAckRetransmits = 0
        origFINIntervals = []
        respFINIntervals = []
        anomalies = AnomalySet()
        sequence = CloseSequence()
        sequenceTruncated = false
        history = History()
        origPackets = 0
        respPackets = 0
        endedBy = nil
    }
}

/// The program behind a local socket, found live from /proc.
package struct ProcessInfo: Sendable, Equatable {
    package var pid: Int32
    package var comm: String
    /// The systemd unit from /proc/PID/cgroup, when there is one.
    package var unit: String?
    /// The kernel's own socket table shows the socket in the alert's state.
    package var kernelConfirmed: Bool
    /// The Kubernetes pod the process runs in, when it runs in one (PodCgroup).
    package var pod: PodName?
    package init(pid: Int32, comm: String, unit: String?, kernelConfirmed: Bool, pod: PodName? = nil) {
        self.pid = pid
        self.comm = comm
        self.unit = unit
        self.kernelConfirmed = kernelConfirmed
        self.pod = pod
    }
}

/// The `alert` event: firing once the threshold is crossed, resolved when the side leaves the state.
package struct AlertEvent: Sendable, Equatable {
    package var time: Timestamp
    package var identity: ConnectionIdentity
    package var alert: AlertKind
    package var status: AlertStatus
    package var side: Side
    package var since: Timestamp
    package var duration: Int64
    package var threshold: Int64
    /// Live only: filled in by the executable where the stuck side is a socket on this host.
    package var process: ProcessInfo?
    /// For `resolved`: the state the side moved to (or why the alert ended: the record closed).
    package var resolvedTo: EndpointState?

    package init(time: Timestamp, identity: ConnectionIdentity, alert: AlertKind, status: AlertStatus,
                 side: Side, since: Timestamp, duration: Int64, threshold: Int64) {
        self.time = time
        self.identity = identity
        self.alert = alert
        self.status = status
        self.side = side
        self.since = since
        self.duration = duration
        self.threshold = threshold
        process = nil
        resolvedTo = nil
    }

    package var state: EndpointState { alert.state }
}

/// The `anomaly` event: something that happened once.
package struct AnomalyEvent: Sendable, Equatable {
    package var time: Timestamp
    package var identity: ConnectionIdentity
    package var anomaly: Anomaly
    /// The side that sent the segment in question.
    package var side: Side?
    /// How many times so far (e.g. the FIN's copies).
    package var count: Int?
    /// The gap from the copy before this one, ns: on every FIN retransmission, TIME_WAIT's too.
    package var interval: Int64?
    /// Intervals between successive copies, ns (FIN retransmissions' back-off), while the
    /// teardown keeps them (until the record).
    package var intervals: [Int64]
    /// The state of the side the segment was sent to (time_wait_*) or from.
    package var state: EndpointState?
    /// Free-text detail for people, never parsed by tools.
    package var detail: String?
    /// `port_exhaustion`: the figures when the threshold was reached.
    package var portExhaustion: PortExhaustion?

    package init(time: Timestamp, identity: ConnectionIdentity, anomaly: Anomaly, side: Side? = nil,
                 count: Int? = nil, interval: Int64? = nil, intervals: [Int64] = [], state: EndpointState? = nil,
                 detail: String? = nil) {
        self.time = time
        self.identity = identity
        self.anomaly = anomaly
        self.side = side
        self.count = count
        self.interval = interval
        self.intervals = intervals
        self.state = state
        self.detail = detail
        portExhaustion = nil
    }
}

/// The `start` event.
package struct RunStart: Sendable, Equatable {
    package var time: Timestamp
    package var version: String
    package var sourceKind: SourceKind
    package var source: String
    package var filter: String
    package var linkType: String?
    package var thresholds: [(name: String, nanoseconds: Int64)]
    package var maxConnections: Int

    package init(time: Timestamp, version: String, sourceKind: SourceKind, source: String, filter: String,
                 linkType: String?, thresholds: [(name: String, nanoseconds: Int64)], maxConnections: Int) {
        self.time = time
        self.version = version
        self.sourceKind = sourceKind
        self.source = source
        self.filter = filter
        self.linkType = linkType
        self.thresholds = thresholds
        self.maxConnections = maxConnections
    }

    package static func == (lhs: RunStart, rhs: RunStart) -> Bool {
        lhs.time == rhs.time && lhs.version == rhs.version && lhs.sourceKind == rhs.sourceKind
            && lhs.source == rhs.source && lhs.filter == rhs.filter && lhs.linkType == rhs.linkType
            && lhs.thresholds.map(\.name) == rhs.thresholds.map(\.name)
            && lhs.thresholds.map(\.nanoseconds) == rhs.thresholds.map(\.nanoseconds)
            && lhs.maxConnections == rhs.maxConnections
    }
}

/// The `stats` and `stop` events' counters.
package struct RunStats: Sendable, Equatable {
    package var time: Timestamp
    package var packetsSeen: UInt64 = 0
    package var packetsDecoded: UInt64 = 0
    package var packetsMalformed: UInt64 = 0
    /// Frames that were not TCP (or a link type finwatch does not decode): skipped, not errors.
    package var packetsSkipped: UInt64 = 0
    /// Copies of one segment captured again on another interface (`any`): not counted twice.
    package var packetsDuplicate: UInt64 = 0
    package var connectionsTracked: Int = 0
    /// Endpoints in each state now (both sides of every tracked connection, TIME_WAIT residues included).
    package var endpointsByState: [EndpointState: Int] = [:]
    package var eventsWritten: UInt64 = 0
    package var writeErrors: UInt64 = 0
    /// Event lines given up because the output failed for longer than the writer may buffer:
    /// never silent, so a reader of the output knows events are missing.
    package var linesDropped: UInt64 = 0
    /// libpcap's ps_recv, ps_drop (kernel) and ps_ifdrop (interface); nil offline.
    package var captureReceived: UInt64?
    package var dropsKernel: UInt64?
    package var dropsInterface: UInt64?
    package var evictions: UInt64 = 0
    /// For `stop`: why the run ended.
    package var reason: StopReason?

    package init(time: Timestamp) { self.time = time }
}

/// A pod's namespace and name, as the alert's `process.pod` and `/connections` carry them.
package struct PodName: Sendable, Equatable {
    package var namespace: String
    package var name: String

    package init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }
}
