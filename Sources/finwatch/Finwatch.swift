@main
struct Finwatch {
    static func main() {}
}
