/// Decoded frames on their way from the capture thread to the tracker: the TCP segments in
/// capture order, and the times of the frames that were not TCP segments (the packet clock moves
/// on every frame). Handed on whole, never a segment at a time, and reused once applied, so its
/// storage is allocated once per run rather than once per batch.
package struct SegmentBatch: Sendable {
    package var segments: [TCPSegment] = []
    /// A frame not decoded (not TCP, malformed, an unknown link type) came just before
    /// `segments[position]` (or after the last segment, at `segments.count`).
    package var otherFrames: [OtherFrame] = []
    /// The encapsulation paths of the tunnelled segments, numbered from 1 by `TCPSegment.tunnel`.
    /// One entry serves a run of segments through the same path, so a tunnel's traffic adds an
    /// entry only where its path changes.
    package var tunnels: [TunnelPath] = []

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
        tunnels.removeAll(keepingCapacity: true)
    }

    /// Appends `segment`, numbered with `tunnel` when the decoder marked it tunnelled.
    package mutating func append(_ segment: TCPSegment, tunnel: TunnelPath) {
        var segment = segment
        if segment.tunnel != 0 {
            if tunnels.last != tunnel { tunnels.append(tunnel) }
            segment.tunnel = UInt32(tunnels.count)
        }
        segments.append(segment)
    }

    /// The path `segment` came through, nil when it was not tunnelled.
    package func tunnel(of segment: TCPSegment) -> TunnelPath? {
        segment.tunnel == 0 ? nil : tunnels[Int(segment.tunnel) - 1]
    }

    /// A frame that is not a TCP segment, at `time`.
    package mutating func appendOtherFrame(at time: Timestamp) {
        otherFrames.append(OtherFrame(position: segments.count, time: time))
    }
}
