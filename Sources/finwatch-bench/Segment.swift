import FinwatchCore

/// One TCP segment of a generated connection, before it becomes a frame.
struct Segment {
    /// Capture time, microseconds since the Unix epoch.
    var time: UInt64
    var from: Side
    var flags: TCPFlags
    var sequence: UInt32
    var acknowledgment: UInt32
    var payloadLength: UInt16
    var window: UInt16
}
