import Testing
@testable import FinwatchCore

/// The record is paid once per open connection (the benchmark's target is 200 bytes of RSS per
/// connection, index and timers included): a field added carelessly shows up here first.
@Test func connectionRecord_staysAt152Bytes() {
    #expect(MemoryLayout<Connection>.stride == 152)
    #expect(MemoryLayout<TimerQueue.Entry>.stride == 16)
}

/// A residue is paid for 60 s by every connection a host closes: at a few thousand closes a
/// second they outnumber the open connections, so it stays about half a record.
@Test func timeWaitResidue_staysAt80Bytes() {
    #expect(MemoryLayout<Residue>.stride == 80)
}
