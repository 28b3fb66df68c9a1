import FinwatchCore

/// What libpcap says about one captured frame besides its bytes.
package struct FrameInfo: Sendable, Equatable {
    /// Capture time. Nanoseconds where the source has them (we always ask libpcap for nanosecond
    /// precision; microsecond files are scaled up by libpcap itself).
    package var timestamp: Timestamp
    /// Bytes captured (after the snaplen cut): the span's length.
    package var capturedLength: Int
    /// Bytes on the wire.
    package var wireLength: Int
    /// The capturing interface where the source says; libpcap 1.10's API does not expose a
    /// pcapng packet's interface id, so this is nil there.
    package var interfaceIndex: UInt32?

    package init(timestamp: Timestamp, capturedLength: Int, wireLength: Int, interfaceIndex: UInt32? = nil) {
        self.timestamp = timestamp
        self.capturedLength = capturedLength
        self.wireLength = wireLength
        self.interfaceIndex = interfaceIndex
    }
}
