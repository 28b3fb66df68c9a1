/// Up to eight booleans in one byte: records held by the hundred thousand pay for every byte.
struct PackedFlags: Equatable {
    private var raw: UInt8 = 0

    subscript(bit: UInt8) -> Bool {
        get { raw & bit != 0 }
        set { raw = newValue ? raw | bit : raw & ~bit }
    }
}

/// One endpoint's view inside a connection record: its inferred state and the sequence facts
/// the transitions need. 28 bytes: the teardown's times live in `Teardown`, allocated only
/// once a FIN or RST appears.
struct EndpointRecord: Equatable, BitwiseCopyable {
    var state: EndpointState
    /// Seven facts in one byte (see the accessors below): this struct is paid twice per connection.
    private var facts = PackedFlags()
    var windowScale: UInt8 = 0
    var finRetransmits: UInt8 = 0
    var packets: UInt32 = 0
    /// One past the highest sequence number this side has sent (SND.NXT as seen on the wire).
    var nextSequence = SequenceNumber(0)
    /// The highest acknowledgment number this side has sent (its RCV.NXT as seen on the wire).
    var lastAck = SequenceNumber(0)
    /// The sequence number the FIN occupies.
    var finSequence = SequenceNumber(0)
    /// The last window this side advertised, unscaled.
    var window: UInt16 = 0

    init(state: EndpointState) { self.state = state }

    var sentSYN: Bool { get { facts[1] } set { facts[1] = newValue } }
    var sentFIN: Bool { get { facts[2] } set { facts[2] = newValue } }
    var finAcknowledged: Bool { get { facts[4] } set { facts[4] = newValue } }
    var hasAcked: Bool { get { facts[8] } set { facts[8] = newValue } }
    var hasSequence: Bool { get { facts[16] } set { facts[16] = newValue } }
    var alertFiring: Bool { get { facts[32] } set { facts[32] = newValue } }
    var reportedDataAfterFIN: Bool { get { facts[64] } set { facts[64] = newValue } }

    /// The receive window in bytes: the raw field scaled by the shift from this side's SYN.
    var scaledWindow: UInt32 { UInt32(window) << UInt32(min(windowScale, 14)) }
}

extension Side {
    /// 0 for orig, 1 for resp: the index into per-side arrays.
    var index: Int { self == .orig ? 0 : 1 }
}

/// Why a record leaves the table: what the contract's close event and the residue need.
enum RecordPhase: UInt8 {
    /// The SYN is out, no answer yet.
    case opening
    /// Open, no FIN or RST yet.
    case open
    /// At least one FIN or RST seen, close record not yet written. Once it is, what is left of
    /// the connection is a `Residue`, no longer a record. (Not `closing`: that is an endpoint's
    /// RFC 9293 state, CLOSING, which only crossed FINs reach.)
    case tearingDown
}

/// One tracked connection: its key, both endpoints and what the close record will need.
/// Kept small (about 150 bytes) because hundreds of thousands may be open at once, and plain
/// data (no references), so the table's slots are read and written without reference counting
/// or exclusivity checks on the path every packet takes.
struct Connection: BitwiseCopyable {
    // Ordered so the record packs without padding: 152 bytes (checked by ConnectionLayoutTests).
    var key: FlowKey
    var phase: RecordPhase
    /// Five facts in one byte (accessors below): every byte here is paid per open connection.
    private var facts = PackedFlags()
    var finalAckRetransmits: UInt8 = 0   // here, in the key's padding: the record stays at 152 bytes
    var uidNumber: UInt64
    var firstSeen: Timestamp
    var lastSeen: Timestamp
    /// This connection's entry in the table's `TeardownStore` once a FIN or RST appeared (the
    /// store numbers the teardown when the segment that began it returns); 0 before.
    var teardownNumber: UInt32 = 0
    var anomalies = AnomalySet()   // here, beside a 4-byte field: the record stays at 152 bytes
    var history = History()
    var generation: UInt32
    /// The interface of the last segment (`UInt32.max` when the capture does not say).
    var lastInterface: UInt32 = .max
    /// Duplicate-copy detection: the last segment's fingerprint (its time is `lastSeen`).
    var lastFingerprint: UInt32 = 0
    /// Both sides, indexed by `Side.index`: an inline array's element is reached by address, so
    /// `endpoints[side.index].packets &+= 1` is one add in place (a subscript of our own with a
    /// `_modify` accessor was a coroutine call per access on the hot path).
    var endpoints: InlineArray<2, EndpointRecord>

    /// Which canonical endpoint (`key.a` or `key.b`) is orig.
    var origIsA: Bool { get { facts[1] } set { facts[1] = newValue } }
    var handshakeSeen: Bool { get { facts[2] } set { facts[2] = newValue } }
    var sawSYNACK: Bool { get { facts[4] } set { facts[4] = newValue } }
    var mayHaveLostSegments: Bool { get { facts[8] } set { facts[8] = newValue } }
    /// False once the slot is freed; timers and the index never reach a freed slot knowingly.
    var isLive: Bool { get { facts[16] } set { facts[16] = newValue } }

    init(key: FlowKey, origIsA: Bool, uidNumber: UInt64, generation: UInt32, phase: RecordPhase,
         handshakeSeen: Bool, firstSeen: Timestamp, lastSeen: Timestamp, orig: EndpointRecord, resp: EndpointRecord) {
        self.key = key
        self.phase = phase
        self.uidNumber = uidNumber
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.generation = generation
        endpoints = [orig, resp]
        self.origIsA = origIsA
        self.handshakeSeen = handshakeSeen
        isLive = true
    }

    var orig: EndpointRecord {
        get { endpoints[0] }
        set { endpoints[0] = newValue }
    }

    var resp: EndpointRecord {
        get { endpoints[1] }
        set { endpoints[1] = newValue }
    }

    /// The side that sent a segment whose source is the key's `a` endpoint when `senderIsA`.
    @inline(__always)
    func side(senderIsA: Bool) -> Side { senderIsA == origIsA ? .orig : .resp }

    /// One side's record (for reading; the transitions write through `endpoints`).
    subscript(side: Side) -> EndpointRecord { endpoints[side.index] }

    var uid: String { "C\(uidNumber)" }

    var identity: ConnectionIdentity { key.identity(uidNumber: uidNumber, origIsA: origIsA, handshakeSeen: handshakeSeen) }

    /// When `side` entered its current state; the first packet's time before any teardown.
    func since(_ side: Side, in teardowns: borrowing TeardownStore) -> Timestamp {
        teardownNumber == 0 ? firstSeen : teardowns[teardownNumber].stateSince[side.index]
    }
}
