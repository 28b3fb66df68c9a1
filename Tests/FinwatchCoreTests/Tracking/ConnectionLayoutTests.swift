import Testing
@testable import FinwatchCore

/// The record is paid once per open connection (the benchmark's target is 200 bytes of RSS per
/// connection, index and timers included): a field added carelessly shows up here first.
@Test func connectionRecord_staysAt152Bytes() {
    #expect(MemoryLayout<Connection>.stride == 152)
    #expect(MemoryLayout<TimerQueue.Entry>.stride == 16)
}

/// One per connection closing at once: a FIN flood makes every tracked connection one. The
/// value is plain data, 112 B with the close sequence's first four steps inline; the store keeps
/// nothing beside it but for the rare close with more steps or with FINs sent again.
@Test func teardown_staysAt112Bytes() {
    #expect(MemoryLayout<Teardown>.stride == 112)
    #expect(_isPOD(Teardown.self))
    #expect(MemoryLayout<OptionalTimePair>.stride == 16)
}

/// A residue is paid for 60 s by every connection a host closes: at a few thousand closes a
/// second they outnumber the open connections, so it stays well under a record.
@Test func timeWaitResidue_staysAt88Bytes() {
    #expect(MemoryLayout<Residue>.stride == 88)
}

/// The memory bound's worst case (docs/operations.md, "Memory bound"): a connection half-closed
/// with the longest close sequence and the most FIN intervals its teardown keeps, whose slot and
/// residue pages both stay touched, with all its timers and a just-grown index. Only crafted
/// traffic (34 segments or more on every 4-tuple) gets there; a field added to a record, a
/// residue or a teardown moves it, and the documented bound with it.
@Test func worstCaseConnection_staysUnder1000Bytes() {
    let timers = 4 * MemoryLayout<TimerQueue.Entry>.stride   // idle, an alert per side, residue
    let index = 4 * MemoryLayout<UInt32>.stride               // load at most 1/2, just doubled
    // The teardown's spill, plain data in the store's arena, and the two numbers (teardown,
    // spill) on free lists.
    let spill = MemoryLayout<TeardownStore.Spill>.stride + 2 * MemoryLayout<UInt32>.stride
    let worst = MemoryLayout<Connection>.stride + MemoryLayout<Residue>.stride + MemoryLayout<Teardown>.stride + spill
        + timers + index
    print("worst-case bytes per tracked connection: \(worst) (teardown \(MemoryLayout<Teardown>.stride) + spill \(spill))")
    #expect(worst <= 1000)
}

/// The spill has room for every step past the inline ones up to the contract's 32, and for
/// `Teardown.maxIntervals` per side: no more, no less.
@Test func spill_holdsWhatTheTeardownMayKeep() {
    #expect(TeardownStore.Spill.stepCapacity == Teardown.maxSteps - CloseSequence.inlineCapacity)
    #expect(TeardownStore.Spill.intervalCapacity == Teardown.maxIntervals)
    #expect(_isPOD(TeardownStore.Spill.self))
}

/// The pair's "none" is not a time a capture can have: the epoch itself is a time.
@Test func optionalTimePair_noneIsNotATime() {
    var pair = OptionalTimePair()
    #expect(pair[0] == nil && pair[1] == nil)
    pair[1] = Timestamp(nanoseconds: 0)
    #expect(pair[0] == nil && pair[1] == Timestamp(nanoseconds: 0))
    pair[0] = Timestamp(nanoseconds: 1_795_564_800_000_000_000)
    pair[1] = nil
    #expect(pair[0] == Timestamp(nanoseconds: 1_795_564_800_000_000_000) && pair[1] == nil)
}
