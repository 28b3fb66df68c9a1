import ArgumentParser

@main
struct Finwatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finwatch",
        abstract: "Watch how TCP connections end.",
        subcommands: [Status.self, Selftest.self])

    func run() async throws {}
}
