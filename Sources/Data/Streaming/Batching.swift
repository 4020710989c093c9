import ModelFool

/// One mini-batch: the chosen example indices and their gathered inputs and labels.
public struct Batch: Sendable {
  /// Positions of the examples in the dataset.
  public var indices: [Int]
  /// Inputs `[B, ...]` (same layout as the dataset's inputs).
  public var inputs: Tensor
  /// Labels of the batch, in `indices` order.
  public var labels: [Int]
}

extension Dataset {
  /// Input values a batch of a pass that records no graph (logits, explanations, scoring) holds
  /// at most: 4 MiB of input. ImageNet-size images then come 6 to a batch, so each activation of
  /// the pass stays below glibc's 32 MiB `mmap` threshold (``TensorStorage``) and is reused
  /// instead of faulted in anew: an audit of EfficientNet-Lite0 at 64 per batch spent as much
  /// time in the kernel as in its own code and peaked at 5 GB (docs/RESULTS.md §9).
  public static let inferenceBudget = 1 << 20

  /// Examples per batch of a pass that records no graph: `preferred`, or fewer (at least 1) when
  /// `preferred` examples would hold more than ``inferenceBudget`` input values. Digits and
  /// tabular rows keep `preferred`.
  public func inferenceBatchSize(preferred: Int) -> Int {
    let values = Swift.max(exampleShape.reduce(1, *), 1)
    return Swift.max(1, Swift.min(preferred, Self.inferenceBudget / values))
  }

  /// The examples at `indices` (in that order, repeats allowed) as a new dataset with the same
  /// name, class names and feature groups.
  public func subset(_ indices: [Int]) -> Dataset {
    let (x, y) = gather(indices)
    return Dataset(name: name, inputs: x, labels: y, classNames: classNames, features: features)
  }

  /// Inputs `[indices.count, ...]` and labels of the examples at `indices` (a row copy).
  public func gather(_ indices: [Int]) -> (inputs: Tensor, labels: [Int]) {
    for i in indices { precondition(i >= 0 && i < count, "Dataset \(name): index \(i) out of range 0..<\(count)") }
    return (inputs.detached().selectingRows(indices), indices.map { labels[$0] })
  }

  /// Example indices cut into batches of `size` (the last one smaller unless `dropLast`),
  /// in order, or in a `SeededSplit.permutation` drawn from `g` when `shuffle` is true.
  public func batchIndices(size: Int, shuffle: Bool, dropLast: Bool = false, using g: inout SeededGenerator)
    -> [[Int]]
  {
    precondition(size > 0, "batch size must be positive, got \(size)")
    let order = shuffle ? SeededSplit.permutation(count, using: &g) : Array(0..<count)
    var out: [[Int]] = []
    var start = 0
    while start < count {
      let end = min(start + size, count)
      if end - start < size && dropLast { break }
      out.append(Array(order[start..<end]))
      start = end
    }
    return out
  }

  /// Lazily gathered mini-batches (see `batchIndices(size:shuffle:dropLast:using:)`): each
  /// batch's inputs are copied only when the iteration reaches it.
  public func batches(size: Int, shuffle: Bool, dropLast: Bool = false, using g: inout SeededGenerator)
    -> BatchSequence
  {
    let ids = batchIndices(size: size, shuffle: shuffle, dropLast: dropLast, using: &g)
    return BatchSequence(dataset: self, indexBatches: ids)
  }

  /// Mini-batches in dataset order (no shuffling, last batch may be smaller).
  public func batches(size: Int) -> BatchSequence {
    var unused = SeededGenerator(seed: 0)
    return batches(size: size, shuffle: false, using: &unused)
  }
}

/// The mini-batches of one pass over a dataset; `count` batches, gathered on demand.
public struct BatchSequence: Sequence, Sendable {
  /// The dataset the batches come from.
  public let dataset: Dataset
  /// The example indices of each batch.
  public let indexBatches: [[Int]]

  /// Number of batches.
  public var count: Int { indexBatches.count }

  /// An iterator that gathers the batches in order.
  public func makeIterator() -> Iterator { Iterator(dataset: dataset, indexBatches: indexBatches) }

  /// Gathers one batch per `next()`.
  public struct Iterator: IteratorProtocol {
    let dataset: Dataset
    let indexBatches: [[Int]]
    var position = 0

    /// The next batch, or nil after the last.
    public mutating func next() -> Batch? {
      guard position < indexBatches.count else { return nil }
      let ids = indexBatches[position]
      position += 1
      let (x, y) = dataset.gather(ids)
      return Batch(indices: ids, inputs: x, labels: y)
    }
  }
}

extension Dataset {
  /// `count` examples spread evenly over the data set (its test splits are ordered by class),
  /// or all of them when `count` is at least the size.
  public func evenlySpacedSubset(_ count: Int) -> Dataset {
    guard count > 0, count < self.count else { return self }
    return subset((0..<count).map { $0 * self.count / count })
  }
}
