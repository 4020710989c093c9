import Foundation
import ModelFool
import ModelFoolData

/// Data parallelism for the training loops: each rank differentiates the mean loss of its shard of
/// a global batch; the gradients, weighted by the shard's rows, are summed over the ranks in one
/// flat buffer (one allreduce per step) and divided by the global batch's rows, which gives the
/// gradient of the global batch's mean loss (every loss is a mean of per-example terms, each
/// example's term not depending on the other examples). Every rank then applies the same update.
enum DataParallel {
  /// The reduced step: gradients of the global mean loss (one per parameter), the global means
  /// of `values` and the rows of the global batch.
  struct Step {
    var gradients: [Tensor]
    var values: [Float]
    var rows: Int
  }

  /// Differentiates `losses()` (the loss to differentiate first, then values to report, each a
  /// mean over this rank's `rows` rows; not called when `rows` is 0) with respect to
  /// `parameters` and reduces over the ranks of `communicator`.
  static func step(
    parameters: [Tensor], rows: Int, valueCount: Int, communicator: Communicator, losses: () throws -> [Tensor]
  ) throws -> Step {
    let sizes = parameters.map(\.count)
    let total = sizes.reduce(0, +)
    // [weighted gradients..., weighted values..., rows]
    var buffer = [Float](repeating: 0, count: total + valueCount + 1)
    if rows > 0 {
      let l = try losses()
      let weight = Float(rows)
      let grads = gradients(of: l[0], withRespectTo: parameters)
      var offset = 0
      for (g, n) in zip(grads, sizes) {
        let s = g.scalars
        for i in 0..<n { buffer[offset + i] = s[i] * weight }
        offset += n
      }
      for (k, v) in l.prefix(valueCount).enumerated() { buffer[total + k] = v.scalar * weight }
      buffer[total + valueCount] = weight
    }
    try communicator.allreduceSum(&buffer)
    let globalRows = Int(buffer[total + valueCount])
    let scale = globalRows > 0 ? 1 / Float(globalRows) : 0
    var offset = 0
    let reduced = zip(parameters, sizes).map { p, n in
      defer { offset += n }
      return Tensor(shape: p.shape, scalars: buffer[offset..<(offset + n)].map { $0 * scale })
    }
    let values = (0..<valueCount).map { globalRows > 0 ? buffer[total + $0] / Float(globalRows) : .nan }
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
