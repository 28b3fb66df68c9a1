/// Community ID v1 flow hashing (corelight/community-id-spec). Placeholder until the decode
/// work lands its SHA-1; see CommunityIDTests.
package enum CommunityID {
    package static func v1(_ a: Endpoint, _ b: Endpoint, seed: UInt16) -> String {
        "1:"
    }
}
