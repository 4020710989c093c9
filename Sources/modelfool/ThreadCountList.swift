import Foundation
import ModelFool

/// The thread counts of a bench command's `--threads` list (`1,2`, `1,all`): positive whole numbers
/// and, where `allowingAll`, `all` (every core the engine may use), repeats dropped, in order; nil
/// when a word is neither or the list is empty. Each command words its own error.
func parseThreadCounts(_ list: String, allowingAll: Bool) -> [Int]? {
  var counts: [Int] = []
  for part in list.split(separator: ",") {
    let word = part.trimmingCharacters(in: .whitespaces)
    guard let n = allowingAll && word == "all" ? EngineThreads.available : Int(word), n > 0 else { return nil }
    if !counts.contains(n) { counts.append(n) }
  }
  return counts.isEmpty ? nil : counts
}
