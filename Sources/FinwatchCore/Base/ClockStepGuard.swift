/// Keeps a live run's clock free of wall-clock steps.
///
/// Live packets carry the kernel's CLOCK_REALTIME, which NTP, an operator or a resumed VM can
/// step by seconds or years. Durations, alert thresholds and TIME_WAIT must measure elapsed time,
/// so the tracker runs on a frame that never steps: the packet's stamp plus `correction`, the sum
/// of the steps seen, negated. Output converts back (`wallShift`), so `ts` stays the wall time.
///
/// The guard reads no clock. It learns `offset`, wall minus monotonic, from the packets
/// themselves: a packet is never delivered before it was stamped, so `stamp − delivery` is at
/// most the true offset, and the largest seen is the estimate (short by the smallest delivery
/// lag, microseconds on a busy link, at most the ring's block timeout on a quiet one).
/// A step shows as a batch that disagrees with the estimate by more than `tolerance`:
/// - forward: stamped later than the wall clock could read at its delivery;
/// - backward: stamped before a moment its shard had already drained the ring empty, when it
///   can only have been captured after. A backlog (finwatch stopped, the ring full) is old
///   packets, not a step: they were captured before that moment and say nothing.
package struct ClockStepGuard: Sendable, Equatable {
    /// Far above delivery lag (the block timeout, 100 ms) and scheduling stalls, far below a step
    /// that would matter to a threshold of seconds.
    package static let tolerance: Int64 = 2_000_000_000

    /// Nanoseconds added to a raw stamp to put it in the step-free frame.
    package private(set) var correction: Int64 = 0
    /// Wall minus monotonic, in the raw frame.
    package private(set) var offset: Int64
    /// Steps seen, and the latest (positive: the wall clock went forward).
    package private(set) var steps = 0
    package private(set) var lastStep: Int64 = 0

    /// One reading of both clocks at start: the estimate until packets refine it.
    package init(wall: Timestamp, monotonic: Int64) {
        offset = wall.nanoseconds &- monotonic
    }

    /// A batch whose latest raw stamp is `latest`, delivered at `monotonic`; `drainedAt` is when
    /// its shard last found the ring empty (every frame of this batch was captured after it).
    /// Returns the correction for the batch's stamps.
    package mutating func batch(latest: Timestamp, monotonic: Int64, drainedAt: Int64?) -> Int64 {
        let lag = latest.nanoseconds &- monotonic
        if lag > offset &+ Self.tolerance {
            step(by: lag &- offset)
        } else if let drainedAt, latest.nanoseconds < drainedAt &+ offset &- Self.tolerance {
            step(by: lag &- offset)
        } else if lag > offset {
            offset = lag
        }
        return correction
    }

    private mutating func step(by amount: Int64) {
        correction &-= amount
        offset &+= amount
        steps += 1
        lastStep = amount
    }

    /// The step-free time at `monotonic`: a silent link's clock.
    package func now(monotonic: Int64) -> Timestamp {
        Timestamp(nanoseconds: monotonic &+ offset &+ correction)
    }

    /// Added to a step-free time to write it as the wall clock reads now.
    package var wallShift: Int64 { 0 &- correction }
}
