/// The release this binary is (also for `quantumvest_build_info` later).
enum Version {
    static let string = "0.1.0-dev"
}
