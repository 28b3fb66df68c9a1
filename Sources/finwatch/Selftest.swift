import ArgumentParser

/// `finwatch selftest`: proves capture works on this host, end to end.
struct Selftest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open real connections on loopback, capture them, check the events; exit 0 or 1.")

    func run() async throws {}
}
