/// Decoded frames on their way from the capture thread to the tracker: the TCP segments in
/// capture order, and the times of the frames that were not TCP segments (the packet clock moves
/// on every frame). Handed on whole, never a segment at a time, and reused once applied, so its
/// storage is allocated once per run rather than once per batch.
package struct SegmentBatch: Sendable {
    package var segments: [TCPSegment] = []
    /// A frame not decoded (not TCP, malformed, an unknown link type) came just before
    /// `segments[position]` (or after the last segment, at `segments.count`).
    package var otherFrames: [OtherFrame] = []

    package struct OtherFrame: Sendable, Equatable {
        package var position: Int
        package var time: Timestamp

        package init(position: Int, time: Timestamp) {
            self.position = position
            self.time = time
        }
    }

    package init(capacity: Int = 0) {
        segments.reserveCapacity(capacity)
    }

    package var isEmpty: Bool { segments.isEmpty && otherFrames.isEmpty }

    /// The time of the batch's first frame, TCP or not.
    package var firstFrameTime: Timestamp? {
        if let other = otherFrames.first, other.position == 0 { return other.time }
        return segments.first?.timestamp ?? otherFrames.first?.time
    }

    /// The time of the batch's last frame, TCP or not.
    package var lastFrameTime: Timestamp? {
        if let other = otherFrames.last, other.position == segments.count { return other.time }
        return segments.last?.timestamp ?? otherFrames.last?.time
    }

    /// Moves every frame's time by `nanoseconds` (a live run's clock correction after a step).
    package mutating func shiftTimes(by nanoseconds: Int64) {
        for index in segments.indices {
            segments[index].timestamp = segments[index].timestamp.adding(nanoseconds: nanoseconds)
        }
        for index in otherFrames.indices {
            otherFrames[index].time = otherFrames[index].time.adding(nanoseconds: nanoseconds)
        }
    }

    /// Empties the batch, keeping its storage for the next one.
    package mutating func removeAll() {
        segments.removeAll(keepingCapacity: true)
        otherFrames.removeAll(keepingCapacity: true)
    }

    /// A frame that is not a TCP segment, at `time`.
    package mutating func appendOtherFrame(at time: Timestamp) {
        otherFrames.append(OtherFrame(position: segments.count, time: time))
    }
}
