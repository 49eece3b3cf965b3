import Testing
@testable import Risk

@Suite("Φ⁻¹ (AS241 PPND16)")
struct InverseNormalTests {
    /// scipy.special.ndtri (scipy 1.17.1), repr of each double.
    static let table: [(Double, Double)] = [
        (1e-10, -6.361340902404056), (0.001, -3.090232306167813), (0.025, -1.9599639845400545),
        (0.05, -1.6448536269514729), (0.5, 0.0), (0.95, 1.6448536269514722), (0.999999, 4.753424308817087),
        // The ends of the central region, and the far tail (r > 5).
        (0.075, -1.4395314709384563), (0.925, 1.4395314709384563), (1e-300, -37.0470962993612),
    ]

    @Test(arguments: table)
    func agreesWithScipy(_ p: Double, _ expected: Double) {
        let z = inverseNormalCDF(p)
        #expect(abs(z - expected) <= 1e-15 * abs(expected), "Φ⁻¹(\(p)) = \(z), scipy \(expected)")
    }

    /// For dyadic p, 1 − p and both p − ½ are exact, so the two halves must mirror bit for bit.
    @Test(arguments: [0x1p-40, 0x1p-20, 0.0625, 0.125, 0.25, 0.375])
    func symmetric(_ p: Double) {
        #expect(inverseNormalCDF(p) == -inverseNormalCDF(1 - p))
    }

    @Test func edges() {
        #expect(inverseNormalCDF(0) == -.infinity)
        #expect(inverseNormalCDF(1) == .infinity)
        #expect(inverseNormalCDF(-0.1).isNaN)
        #expect(inverseNormalCDF(1.5).isNaN)
        #expect(inverseNormalCDF(.nan).isNaN)
    }
}
