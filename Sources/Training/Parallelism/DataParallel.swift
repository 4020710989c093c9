import Foundation
import ModelFool
import ModelFoolData

/// Data parallelism for the training loops: each rank differentiates the mean loss of its shard of
/// a global batch; the gradients, weighted by the shard's rows, are summed over the ranks and
/// divided by the global batch's rows, which gives the gradient of the global batch's mean loss
/// (every loss is a mean of per-example terms, each example's term not depending on the other
/// examples). Every rank then applies the same update.
///
/// The sums travel in buckets (flat buffers of at most ``Communicator/bucketBytes``, parameters
/// taken from the last to the first, as their gradients tend to complete in the backward pass).
/// A bucket's nonblocking reduction starts as soon as the backward pass has finished every
/// gradient in it (``gradients(of:withRespectTo:seed:createGraph:whenFinal:)``) and all buckets
/// before it have started, so that communication overlaps the rest of the backward pass; the
/// buckets start in the same order on every rank.
enum DataParallel {
  /// The reduced step: gradients of the global mean loss (one per parameter), the global means
  /// of `values` and the rows of the global batch.
  struct Step {
    var gradients: [Tensor]
    var values: [Float]
    var rows: Int
  }

  /// The parameter indices of each bucket, from the last parameter to the first: consecutive
  /// parameters fill a bucket up to `capacity` elements; a larger parameter has a bucket alone.
  static func buckets(sizes: [Int], capacity: Int) -> [[Int]] {
    var buckets: [[Int]] = []
    var current: [Int] = [], filled = 0
    for i in sizes.indices.reversed() {
      if !current.isEmpty && filled + sizes[i] > capacity {
        buckets.append(current)
        current = []
        filled = 0
      }
      current.append(i)
      filled += sizes[i]
    }
    if !current.isEmpty || buckets.isEmpty { buckets.append(current) }
    return buckets
  }

  /// Differentiates `losses()` (the loss to differentiate first, then values to report, each a
  /// mean over this rank's `rows` rows; not called when `rows` is 0) with respect to
  /// `parameters` and reduces over the ranks of `communicator`.
  static func step(
    parameters: [Tensor], rows: Int, valueCount: Int, communicator: Communicator, losses: () throws -> [Tensor]
  ) throws -> Step {
    let sizes = parameters.map(\.count)
    let groups = buckets(sizes: sizes, capacity: max(communicator.bucketBytes / MemoryLayout<Float>.size, 1))
    // The flat buffer holds the buckets one after the other, then [weighted values..., rows]
    // (reduced with the last bucket).
    var offsets = [Int](repeating: 0, count: sizes.count)
    var bucketEnds: [Int] = []
    var total = 0
    for group in groups {
      for i in group {
        offsets[i] = total
        total += sizes[i]
      }
      bucketEnds.append(total)
    }
    bucketEnds[bucketEnds.count - 1] += valueCount + 1
    var bucketOf = [Int](repeating: 0, count: sizes.count)
    for (b, group) in groups.enumerated() { for i in group { bucketOf[i] = b } }
    var remaining = groups.map(\.count)
    var started = 0
    let flat = UnsafeMutableBufferPointer<Float>.allocate(capacity: total + valueCount + 1)
    flat.initialize(repeating: 0)
    defer { flat.deallocate() }
    // Starts every bucket whose gradients are all in, in bucket order.
    func startReady() throws {
      while started < groups.count && remaining[started] == 0 {
        let from = started == 0 ? 0 : bucketEnds[started - 1]
        try communicator.startAllreduceSum(UnsafeMutableBufferPointer(rebasing: flat[from..<bucketEnds[started]]))
        started += 1
      }
    }
    var failure: Error?
    if rows > 0 {
      let l = try losses()
      let weight = Float(rows)
      for (k, v) in l.prefix(valueCount).enumerated() { flat[total + k] = v.scalar * weight }
      flat[total + valueCount] = weight
      _ = gradients(of: l[0], withRespectTo: parameters) { i, g in
        let s = g.scalars
        for j in 0..<sizes[i] { flat[offsets[i] + j] = s[j] * weight }
        remaining[bucketOf[i]] -= 1
        guard failure == nil else { return }
        do {
          try startReady()
          try communicator.advanceReductions()
        } catch { failure = error }
      }
    } else {
      // No rows here: zeros, but the same reductions in the same order as the other ranks.
      remaining = remaining.map { _ in 0 }
    }
    if failure == nil {
      do { try startReady() } catch { failure = error }
    }
    // Started reductions write into the buffer: wait for them before freeing it, even on failure.
    try communicator.waitForReductions()
    if let failure { throw failure }
    let globalRows = Int(flat[total + valueCount])
    let scale = globalRows > 0 ? 1 / Float(globalRows) : 0
    let reduced = zip(parameters, sizes).enumerated().map { i, pair in
      Tensor(shape: pair.0.shape, scalars: flat[offsets[i]..<(offsets[i] + pair.1)].map { $0 * scale })
    }
    let values = (0..<valueCount).map { globalRows > 0 ? flat[total + $0] / Float(globalRows) : .nan }
    return Step(gradients: reduced, values: values, rows: globalRows)
  }

  /// Top-1 hits and the sum of per-batch `lossOf` over the 64-row batches of `data`, each rank
  /// scoring batches `rank, rank + size, ...`: every batch's numbers are those of one process
  /// (the same rows in the same batch) and are summed in batch order after the exchange, so the
  /// result equals one process's bit for bit.
  static func scoreBatches(
    _ data: Dataset, communicator: Communicator, batchSize: Int = 64,
    _ score: (_ inputs: Tensor, _ labels: [Int]) throws -> (top1: Int, loss: Float)
  ) throws -> (top1: Int, lossSum: Float, batches: Int) {
    let order = data.batches(size: batchSize).indexBatches
    var slots = [Float](repeating: 0, count: 2 * order.count)
    for (b, ids) in order.enumerated() where b % communicator.size == communicator.rank {
      let (x, y) = data.gather(ids)
      let s = try score(x, y)
      slots[b] = Float(s.top1)
      slots[order.count + b] = s.loss
    }
    try communicator.allreduceSum(&slots)
    let top1 = slots[..<order.count].reduce(0) { $0 + Int($1) }
    let lossSum = slots[order.count...].reduce(Float(0), +)
    return (top1, lossSum, order.count)
  }
}
