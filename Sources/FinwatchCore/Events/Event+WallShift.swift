extension Event {
    /// The event with every point in time moved by `nanoseconds`: a live run's step-free times
    /// written as wall time after the host clock stepped (`ClockStepGuard`). Durations are
    /// differences and stay as they are.
    package func shiftingTimes(by nanoseconds: Int64) -> Event {
        guard nanoseconds != 0 else { return self }
        switch self {
        case .start(var start):
            start.time = start.time.adding(nanoseconds: nanoseconds)
            return .start(start)
        case .close(var record):
            record.time = record.time.adding(nanoseconds: nanoseconds)
            return .close(record)
        case .alert(var alert):
            alert.time = alert.time.adding(nanoseconds: nanoseconds)
            alert.since = alert.since.adding(nanoseconds: nanoseconds)
            return .alert(alert)
        case .anomaly(var anomaly):
            anomaly.time = anomaly.time.adding(nanoseconds: nanoseconds)
            return .anomaly(anomaly)
        case .stats(var stats):
            stats.time = stats.time.adding(nanoseconds: nanoseconds)
            return .stats(stats)
        case .stop(var stats):
            stats.time = stats.time.adding(nanoseconds: nanoseconds)
            return .stop(stats)
        }
    }
}
