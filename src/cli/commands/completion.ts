// podfiles completion bash|zsh|fish: a script that completes commands, flags and remote paths
// by calling the hidden `podfiles __complete WORD...` (complete.ts) on every Tab. When it prints
// nothing (a local path, a flag's value) the shell completes file names as usual.
//   bash:  source <(podfiles completion bash)      (or save it in /etc/bash_completion.d/podfiles)
//   zsh:   source <(podfiles completion zsh)       (or save it as _podfiles in a $fpath directory)
//   fish:  podfiles completion fish > ~/.config/fish/completions/podfiles.fish
import type { Command } from "commander";
import { UsageError, formatError } from "./errors.js";

// bash splits words at ":" (COMP_WORDBREAKS), so "web-0:/etc" arrives as web-0, ":", /etc: the
// words are joined back before asking, and each candidate loses what precedes the word bash replaces.
const BASH = `# podfiles completion for bash: source <(podfiles completion bash)
_podfiles_complete() {
  local i w words=() cur="\${COMP_WORDS[COMP_CWORD]}"
  for ((i = 1; i <= COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    if [[ \${#words[@]} -gt 0 && ( "$w" == ":" || "\${words[-1]}" == *: ) && $i -gt 1 ]]; then
      words[-1]+="$w"
    else
      words+=("$w")
    fi
  done
  local joined="\${words[-1]}"
  local strip="\${joined:0:\${#joined}-\${#cur}}"
  [[ "$cur" == ":" ]] && strip="\${joined:0:\${#joined}-1}"
  local line
  COMPREPLY=()
  while IFS= read -r line; do
    [[ -n "$line" ]] && COMPREPLY+=("\${line#"$strip"}")
  done < <("\${COMP_WORDS[0]}" __complete "\${words[@]}" 2>/dev/null)
  if [[ \${#COMPREPLY[@]} -eq 1 && "\${COMPREPLY[0]}" == */ ]]; then compopt -o nospace 2>/dev/null; fi
}
complete -o default -o bashdefault -F _podfiles_complete podfiles kubectl-podfiles
`;

const ZSH = `#compdef podfiles kubectl-podfiles
# podfiles completion for zsh: source <(podfiles completion zsh)
_podfiles() {
  local -a out
  out=("\${(@f)$(\${words[1]} __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  out=(\${out:#})
  if (( \${#out} )); then
    compadd -Q -S '' -- "\${out[@]}"
  else
    _files
  fi
}
if [[ "\${zsh_eval_context[-1]}" == loadautofunc ]]; then _podfiles "$@"; else compdef _podfiles podfiles kubectl-podfiles; fi
`;

const FISH = `# podfiles completion for fish: podfiles completion fish > ~/.config/fish/completions/podfiles.fish
function __podfiles_complete
  set -l words (commandline -opc)
  set -l cur (commandline -ct)
  set -l out ($words[1] __complete $words[2..-1] "$cur" 2>/dev/null)
  if test (count $out) -gt 0
    printf '%s\\n' $out
  else
    __fish_complete_path "$cur"
  end
end
complete -c podfiles -f -a '(__podfiles_complete)'
complete -c kubectl-podfiles -f -a '(__podfiles_complete)'
`;

export const COMPLETION_SCRIPTS: Record<string, string> = { bash: BASH, zsh: ZSH, fish: FISH };

export function registerCompletion(program: Command): void {
  program
    .command("completion")
    .description("print a shell completion script: bash, zsh or fish (source <(podfiles completion bash))")
    .argument("<shell>", "bash, zsh or fish")
    .action((shell: string) => {
      const script = COMPLETION_SCRIPTS[shell];
      if (!script) {
        process.stderr.write(`podfiles: ${formatError(new UsageError(`completion ${shell}: use bash, zsh or fish`))}\n`);
        process.exitCode = 2;
        return;
      }
      process.stdout.write(script);
    });
}
