import ArgumentParser

/// `finwatch status`: asks a running finwatch what it sees now.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the connections a running finwatch sees stuck half-closed.")

    func run() async throws {}
}
