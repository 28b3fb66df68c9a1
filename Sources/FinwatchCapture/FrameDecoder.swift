import FinwatchCore
import Synchronization

// Stage one of the pipeline, on the capture thread: frames decoded into batches for the tracker.
// Here, beside the reader that feeds it, so every reader of a capture (finwatch, the benchmark's
// tracker measurement) decodes the same way.

/// Stage one, on the capture thread: decodes each frame into the batch and counts it.
package struct FrameDecoder: FrameSink {
    package let linkType: LinkType?
    /// Look inside tunnels (`--no-decapsulate` turns it off).
    package let decapsulate: Bool
    /// Where the decoder writes the current frame's encapsulations: kept, so no frame allocates.
    /// Read only for a segment that says it is tunnelled: reading it (450 bytes) for every frame
    /// was a `memcpy` each time, about 100 instructions a packet.
    private var tunnel = TunnelPath()
    package private(set) var batch: SegmentBatch
    package private(set) var seen: UInt64 = 0
    package private(set) var decoded: UInt64 = 0
    package private(set) var malformed: UInt64 = 0
    package private(set) var skipped: UInt64 = 0
    /// The latest frame time seen (`Int64.min` before the first frame): a plain integer, compared
    /// on every frame, rather than an optional.
    private var latest = Int64.min
    package var lastPacketTime: Timestamp? { latest == .min ? nil : Timestamp(nanoseconds: latest) }
    /// Where applied batches come back to, so their storage is reused (nil: a fresh one each time).
    package let pool: BatchPool?

    package static let batchCapacity = 4096

    package init(linkType: LinkType?, pool: BatchPool? = nil, decapsulate: Bool = true) {
        self.linkType = linkType
        self.decapsulate = decapsulate
        self.pool = pool
        batch = pool?.take() ?? SegmentBatch(capacity: Self.batchCapacity)
    }

    package mutating func frame(_ bytes: RawSpan, _ info: FrameInfo) {
        seen &+= 1
        if info.timestamp.nanoseconds > latest { latest = info.timestamp.nanoseconds }
        guard let linkType else {
            skipped &+= 1
            batch.appendOtherFrame(at: info.timestamp)
            return
        }
        do {
            if let segment = try Frame.decodeTCP(bytes, linkType: linkType, timestamp: info.timestamp,
                                                 interfaceIndex: info.interfaceIndex, tunnel: &tunnel,
                                                 decapsulate: decapsulate) {
                decoded &+= 1
                // The segment says whether it came through a tunnel: a plain one never reads the path.
                if segment.tunnel == 0 {
                    batch.segments.append(segment)
                } else {
                    batch.append(segment, tunnel: tunnel)
                }
                return
            }
            skipped &+= 1
        } catch {
            malformed &+= 1
        }
        batch.appendOtherFrame(at: info.timestamp)
    }

    /// The batch so far, leaving an empty one (the tracker owns the old one from now on).
    package mutating func takeBatch() -> SegmentBatch {
        var fresh = pool?.take() ?? SegmentBatch(capacity: Self.batchCapacity)
        swap(&fresh, &batch)
        return fresh
    }
}

/// Applied batches, emptied and kept for the capture thread to fill again: their arrays are
/// allocated once per run, not once per batch (a fresh 4,096-segment array was a few hundred
/// kilobytes of newly faulted pages each time, and cold in every cache).
package final class BatchPool: Sendable {
    private let batches = Mutex<[SegmentBatch]>([])
    /// More than the stages can hold at once (four in flight, one filling, one applying).
    package static let limit = 8

    package init() {}

    /// An empty batch: a recycled one if there is one.
    package func take() -> SegmentBatch {
        batches.withLock { $0.popLast() } ?? SegmentBatch(capacity: FrameDecoder.batchCapacity)
    }

    /// Gives `batch` back once the tracker is done with it.
    package func give(_ batch: consuming SegmentBatch) {
        batch.removeAll()
        var spare: SegmentBatch? = consume batch
        batches.withLock { if $0.count < Self.limit { $0.append(spare.take()!) } }
    }
}

extension PcapHandle {
    /// `read` into the decoder every reader of a capture uses, specialised here where both are
    /// declared. Called from another module, the generic `read` was not specialised although it
    /// is inlinable: each frame went through a witness table to `FrameDecoder.frame`.
    package func read(limit: Int, into decoder: inout FrameDecoder) throws(CaptureError) -> Int {
        try Self.read(self, limit: limit, into: &decoder)
    }

    /// The generic `read`, named so that the concrete overload above cannot resolve to itself.
    private static func read<Sink: FrameSink & ~Copyable>(_ handle: PcapHandle, limit: Int,
                                                          into sink: inout Sink) throws(CaptureError) -> Int {
        try handle.read(limit: limit, into: &sink)
    }
}
