extension Event {
    /// Appends this event as one JSON line (with its trailing newline) to `buffer`.
    package func appendJSONLine(to buffer: inout [UInt8]) {}
}
