// Implementation note: the documentation names flags that the CLI must have. This test reads
// README.md and docs/*.md, finds every command line written as `modelfool SUBCOMMAND [SUBSUBCOMMAND]
// ... --flag ...` (in fenced code blocks, with `\` and indented continuation lines, and in inline
// code spans, where a span may also start with the subcommand itself: `finetune --no-memory-check`),
// and checks each `--flag` against the options that `modelfool SUBCOMMAND --help` lists. A bare `--`
// starts the next command (`modelfool sweep --lambda 1,10 -- finetune --objective hide`); `;`, `&`,
// `&&`, `||` and `#` end one. Alternatives written `train|finetune` are each checked. The flags
// swift-argument-parser accepts on the root command without listing them (`rootBuiltins`) are
// checked by running one.

import Foundation
import Testing

/// One command line found in the documentation: where, which command, which flags.
struct DocumentedCommand: CustomStringConvertible {
  var file: String
  var line: Int
  /// The command path below `modelfool` (`["audit", "sanity"]`); alternatives are separate entries.
  var path: [String]
  var flags: [String]
  var description: String { "\(file):\(line): modelfool \(path.joined(separator: " ")) \(flags.joined(separator: " "))" }
}

/// The command tree read from the binary's help: the subcommands and the options of each path.
final class CLIHelp: @unchecked Sendable {
  private var options: [[String]: Set<String>] = [:]
  private var subcommands: [[String]: (names: Set<String>, defaultName: String?)] = [:]
  private let lock = NSLock()

  /// The help text of `modelfool PATH --help`, one long line per option.
  private func help(_ path: [String]) throws -> String {
    let r = try CLI.run(path + ["--help"], in: try CLI.temporaryFolder(), environment: ["COLUMNS": "1000"])
    guard r.status == 0 else { throw CLIError("modelfool \(path.joined(separator: " ")) --help failed (\(r.status)): \(r.stderr)") }
    return r.stdout
  }

  private func load(_ path: [String]) throws {
    if options[path] != nil { return }
    let text = try help(path)
    var flags: Set<String> = []
    var names: Set<String> = []
    var defaultName: String? = nil
    var section = ""
    for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
      let line = String(raw)
      if !line.hasPrefix(" "), line.hasSuffix(":") { section = line; continue }
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      // The signature column ends at the first run of two spaces.
      let signature = trimmed.components(separatedBy: "  ").first ?? ""
      if section.hasPrefix("SUBCOMMANDS") {
        let words = signature.split(separator: " ")
        if let name = words.first { names.insert(String(name)) }
        if words.contains("(default)"), let name = words.first { defaultName = String(name) }
      } else if signature.hasPrefix("-") {
        for flag in DocumentedFlags.flags(in: signature) { flags.insert(flag) }
      }
    }
    options[path] = flags
    subcommands[path] = (names, defaultName)
  }

  /// The options of `modelfool PATH`, with those of its default subcommand when it has one.
  func options(of path: [String]) throws -> Set<String> {
    lock.lock(); defer { lock.unlock() }
    try load(path)
    var result = options[path]!
    if let name = subcommands[path]!.defaultName {
      try load(path + [name])
      result.formUnion(options[path + [name]]!)
    }
    return result
  }

  /// The subcommand names of `modelfool PATH`.
  func subcommands(of path: [String]) throws -> Set<String> {
    lock.lock(); defer { lock.unlock() }
    try load(path)
    return subcommands[path]!.names
  }
}

enum DocumentedFlags {
  static let help = CLIHelp()

  /// The long flags in `text` (`--beta-growth` in `[--beta-growth 10,100`, `--lambda` in `--lambda=1`).
  static func flags(in text: String) -> [String] {
    var result: [String] = []
    let characters = Array(text)
    var i = 0
    while i + 2 < characters.count {
      if characters[i] == "-", characters[i + 1] == "-", characters[i + 2].isLetter,
        i == 0 || !(characters[i - 1].isLetter || characters[i - 1].isNumber || characters[i - 1] == "-")
      {
        var j = i + 2
        while j < characters.count, characters[j].isLetter || characters[j].isNumber || characters[j] == "-" { j += 1 }
        result.append(String(characters[i..<j]))
        i = j
      } else {
        i += 1
      }
    }
    return result
  }

  /// The documentation files: README.md and docs/*.md.
  static func files() throws -> [String] {
    let docs = CLI.packageRoot + "/docs"
    let names = try FileManager.default.contentsOfDirectory(atPath: docs).filter { $0.hasSuffix(".md") }.sorted()
    return ["README.md"] + names.map { "docs/" + $0 }
  }

  /// A candidate command text and the line it starts on.
  struct Snippet {
    var text: String
    var line: Int
    /// Inline code may start with the subcommand (`finetune --lambda 1`), a code block may not.
    var inline: Bool
  }

  /// The fenced code blocks' commands (continuations joined) and the inline code spans of `markdown`.
  static func snippets(of markdown: String) -> [Snippet] {
    var result: [Snippet] = []
    let lines = markdown.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    var inFence = false
    var prose: [(text: String, line: Int)] = []
    var current: Snippet? = nil
    func flush() {
      if let c = current { result.append(c) }
      current = nil
    }
    for (index, line) in lines.enumerated() {
      let number = index + 1
      if line.trimmingCharacters(in: .whitespaces).hasPrefix("```") {
        flush()
        inFence.toggle()
        continue
      }
      if inFence {
        let continues = current.map { $0.text.hasSuffix("\\") } ?? false
        let indented = line.hasPrefix(" ") && !line.trimmingCharacters(in: .whitespaces).isEmpty
        if var c = current, continues || indented {
          if c.text.hasSuffix("\\") { c.text.removeLast() }
          c.text += " " + line
          current = c
        } else {
          flush()
          current = Snippet(text: line, line: number, inline: false)
        }
      } else {
        prose.append((line, number))
      }
    }
    flush()
    // Inline spans: a paragraph's lines are joined, since a span may wrap.
    var paragraph = "", start = 0
    func spans() {
      let parts = paragraph.components(separatedBy: "`")
      for (k, part) in parts.enumerated() {
        if k % 2 == 1, k < parts.count - 1 {
          // The line of the span: count the newlines before it.
          let before = parts[0..<k].joined(separator: "`")
          let line = start + before.filter { $0 == "\n" }.count
          result.append(Snippet(text: part.replacingOccurrences(of: "\n", with: " "), line: line, inline: true))
        }
      }
      paragraph = ""
    }
    for (text, number) in prose {
      if text.trimmingCharacters(in: .whitespaces).isEmpty {
        spans()
        continue
      }
      if paragraph.isEmpty { start = number } else { paragraph += "\n" }
      paragraph += text
    }
    spans()
    return result
  }

  /// The commands written in `markdown` (of `file`), resolved against the binary's command tree.
  static func commands(in markdown: String, file: String) throws -> [DocumentedCommand] {
    var result: [DocumentedCommand] = []
    let root = try help.subcommands(of: [])
    for snippet in snippets(of: markdown) {
      let words = snippet.text.split(whereSeparator: \.isWhitespace).map(String.init)
      var starts: [Int] = []
      for (i, word) in words.enumerated() {
        if word == "modelfool" || word.hasSuffix("/modelfool") { starts.append(i + 1) }
      }
      if snippet.inline, let first = words.first, first.split(separator: "|").allSatisfy({ root.contains(String($0)) }) {
        starts.append(0)
      }
      for start in starts {
        var i = start
        while i <= words.count {
          guard let (paths, next) = try commandPath(words, from: i) else { break }
          var flags: [String] = []
          var j = next
          var nested: Int? = nil
          while j < words.count {
            let word = words[j]
            if word == "modelfool" || word.hasSuffix("/modelfool") { break }
            if [";", "&", "&&", "||"].contains(word) || word.hasPrefix("#") || word.hasSuffix(";") { break }
            if word == "--" { nested = j + 1; break }
            flags += Self.flags(in: word.hasPrefix("--") || word.hasPrefix("[--") || word.hasPrefix("(--") || word.hasPrefix("|--") ? word : "")
            j += 1
          }
          for path in paths { result.append(DocumentedCommand(file: file, line: snippet.line, path: path, flags: flags)) }
          guard let n = nested else { break }
          i = n
        }
      }
    }
    return result
  }

  /// The command path(s) at `words[i...]` and the index after them; nil when the words there are
  /// not a command (`modelfool 0.4.0`, `modelfool ...`). A first word starting with `--` is the
  /// root command's flag.
  static func commandPath(_ words: [String], from i: Int) throws -> ([[String]], Int)? {
    guard i < words.count else { return nil }
    func clean(_ w: String) -> String { w.trimmingCharacters(in: CharacterSet(charactersIn: "[]()`.,:")) }
    let first = clean(words[i])
    if first.hasPrefix("--") { return ([[]], i) }
    let root = try help.subcommands(of: [])
    let names = first.split(separator: "|").map(String.init)
    guard !names.isEmpty, names.allSatisfy({ root.contains($0) }) else { return nil }
    var paths: [[String]] = []
    var next = i + 1
    for name in names {
      var path = [name]
      if next < words.count, names.count == 1 {
        let second = clean(words[next])
        if try help.subcommands(of: [name]).contains(second) {
          path.append(second)
          next += 1
        }
      }
      paths.append(path)
    }
    return (paths, next)
  }

  /// swift-argument-parser's flags of the root command that its help does not list.
  static let rootBuiltins: Set<String> = ["--generate-completion-script"]

  /// The documented flags that `modelfool PATH --help` does not list, as readable lines.
  static func unknownFlags(_ commands: [DocumentedCommand]) throws -> [String] {
    var problems: [String] = []
    for command in commands {
      let known = try help.options(of: command.path).union(["--help"]).union(command.path.isEmpty ? rootBuiltins : [])
      for flag in command.flags where !known.contains(flag) {
        problems.append("\(command.file):\(command.line): `modelfool \(command.path.joined(separator: " "))` has no \(flag)")
      }
    }
    return problems
  }
}

@Suite("documentation: every documented flag exists")
struct DocumentedFlagsTests {
  @Test func everyFlagInTheDocsIsInTheCommandsHelp() throws {
    var commands: [DocumentedCommand] = []
    for file in try DocumentedFlags.files() {
      let text = try String(contentsOfFile: CLI.packageRoot + "/" + file, encoding: .utf8)
      commands += try DocumentedFlags.commands(in: text, file: file)
    }
    // The scan finds the README's commands, so that an empty scan cannot pass.
    #expect(commands.count >= 50, "only \(commands.count) documented commands found")
    #expect(commands.contains { $0.file == "README.md" && $0.path == ["finetune"] && $0.flags.contains("--objective") })
    #expect(commands.contains { $0.path == ["audit", "manipulation"] && $0.flags.contains("--calibration") })
    let problems = try DocumentedFlags.unknownFlags(commands)
    #expect(problems.isEmpty, "\(problems.count) documented flags do not exist:\n\(problems.joined(separator: "\n"))")
  }

  @Test func theRootsUnlistedBuiltinsExist() throws {
    let r = try CLI.run(["--generate-completion-script", "bash"], in: try CLI.temporaryFolder())
    #expect(r.status == 0 && r.stdout.contains("modelfool"), "exit \(r.status): \(r.stderr)")
  }

  @Test func aMadeUpFlagIsFound() throws {
    let markdown = """
      Run `modelfool train --dataset german --epochs-typo 3` first.

      ```
      modelfool audit sanity --model m.h5 \\
          --no-such-flag
      modelfool sweep --lambda 1,10 -- finetune --objective hide --lamda 3
      modelfool finetune     --objective hide
                             [--made-up N] [--seed S]
      ```

      Or `evaluate --fsr --bogus-inline`, and `modelfool bench --peer none --bogus-bench`.
      """
    let commands = try DocumentedFlags.commands(in: markdown, file: "test.md")
    let problems = try DocumentedFlags.unknownFlags(commands)
    #expect(Set(problems) == [
      "test.md:4: `modelfool audit sanity` has no --no-such-flag",
      "test.md:6: `modelfool finetune` has no --lamda",
      "test.md:7: `modelfool finetune` has no --made-up",
      "test.md:1: `modelfool train` has no --epochs-typo",
      "test.md:11: `modelfool evaluate` has no --bogus-inline",
      "test.md:11: `modelfool bench` has no --bogus-bench",
    ])
  }
}
