import ModelFool
import ModelFoolData
import Testing

@Suite struct BatchingTests {
  /// 10 examples of shape [2]; example i holds (i, 10 i), label i % 3.
  static let toy = Dataset(
    name: "toy", inputs: Tensor(shape: [10, 2], scalars: (0..<10).flatMap { [Float($0), Float(10 * $0)] }),
    labels: (0..<10).map { $0 % 3 }, classNames: ["a", "b", "c"])

  @Test func subsetGathersRows() {
    let s = Self.toy.subset([7, 2, 7])
    #expect(s.inputs.shape == [3, 2])
    #expect(s.inputs.scalars == [7, 70, 2, 20, 7, 70])
    #expect(s.labels == [1, 2, 1] && s.classNames == ["a", "b", "c"] && s.name == "toy")
  }

  /// Passes without a graph keep their preferred batch size up to 2^20 input values per batch:
  /// digits and tabular rows are untouched, 224 x 224 RGB images come 6 to a batch.
  @Test func inferenceBatchSizeCapsInputValuesPerBatch() {
    func data(_ shape: [Int]) -> Dataset {
      Dataset(name: "d", inputs: .zeros([1] + shape), labels: [0], classNames: ["a"])
    }
    #expect(data([1, 28, 28]).inferenceBatchSize(preferred: 256) == 256)
    #expect(data([91]).inferenceBatchSize(preferred: 64) == 64)
    #expect(data([3, 224, 224]).inferenceBatchSize(preferred: 64) == 6)  // 1,048,576 / 150,528
    #expect(data([3, 224, 224]).inferenceBatchSize(preferred: 4) == 4)
    #expect(data([3, 1024, 1024]).inferenceBatchSize(preferred: 64) == 1)
  }

  @Test func orderedBatches() {
    let b = Array(Self.toy.batches(size: 4))
    #expect(b.map(\.indices) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
    #expect(b[2].inputs.shape == [2, 2] && b[2].inputs.scalars == [8, 80, 9, 90] && b[2].labels == [2, 0])
    var g = SeededGenerator(seed: 1)
    #expect(Self.toy.batchIndices(size: 4, shuffle: false, dropLast: true, using: &g) == [[0, 1, 2, 3], [4, 5, 6, 7]])
  }

  @Test func shuffledBatchesAreASeededPermutation() {
    var g1 = SeededGenerator(seed: 42), g2 = SeededGenerator(seed: 42)
    let a = Self.toy.batchIndices(size: 3, shuffle: true, using: &g1)
    let b = Self.toy.batchIndices(size: 3, shuffle: true, using: &g2)
    #expect(a == b)
    #expect(a.map(\.count) == [3, 3, 3, 1])
    #expect(a.flatMap { $0 }.sorted() == Array(0..<10))
    #expect(a.flatMap { $0 } != Array(0..<10))
    // The next epoch draws a different order from the same generator.
    #expect(Self.toy.batchIndices(size: 3, shuffle: true, using: &g1) != a)
    var g3 = SeededGenerator(seed: 42)
    for batch in Self.toy.batches(size: 3, shuffle: true, using: &g3) {
      #expect(batch.inputs.scalars == batch.indices.flatMap { [Float($0), Float(10 * $0)] })
      #expect(batch.labels == batch.indices.map { $0 % 3 })
    }
  }

  @Test func stratifiedSplitCounts() {
    let labels = Array(repeating: 0, count: 7) + Array(repeating: 1, count: 3)
    let (train, test) = SeededSplit.stratified(labels: labels, testFraction: 0.3, seed: 5)
    // round(0.3 * 7) = 2 of class 0, round(0.3 * 3) = 1 of class 1.
    #expect(test.count == 3 && test.filter { $0 < 7 }.count == 2)
    #expect((train + test).sorted() == Array(0..<10) && train == train.sorted())
  }
}
