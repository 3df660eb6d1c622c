"""Shell completion for `dltricks <TAB>` and `dltricks train <TAB>`: the commands, then
Hydra's own completion of groups, options and keys for train's overrides. Hydra's script would
register the program Hydra sees (dltricks-train, which is no command); this one registers
`dltricks` and asks `dltricks train -sc query=bash` with the line Hydra expects.

    eval "$(dltricks train -sc install=bash)"     # bash; zsh: autoload bashcompinit first
"""

from __future__ import annotations

COMMANDS = ("train", "report", "resume", "lr-find", "schedule", "check", "ensemble")
HYDRA_COMMANDS = ("train", "lr-find", "check")  # whose arguments are overrides

BASH = r"""_dltricks_completion()
{
    local words=($COMP_LINE)
    local word=${COMP_WORDS[COMP_CWORD]}
    if [ "$COMP_CWORD" -le 1 ]; then
        COMPREPLY=($(compgen -W "%(commands)s" -- "$word"))
        return
    fi
    case " %(hydra)s " in
        *" ${words[1]} "*)
            local rest="${COMP_LINE#*${words[1]}}"
            local choices=$(COMP_LINE="dltricks-train$rest" COMP_POINT=$COMP_POINT \
                dltricks train -sc query=bash 2> /dev/null)
            COMPREPLY=($(compgen -o nospace -o default -W "$choices" -- "$word"))
            ;;
        *)
            COMPREPLY=($(compgen -o default -- "$word"))  # run dirs, files
            ;;
    esac
}
COMP_WORDBREAKS=${COMP_WORDBREAKS//=}
complete -o nospace -o default -F _dltricks_completion dltricks
"""


def install_script(shell: str) -> str:
    """The script to eval (bash; zsh with bashcompinit)."""
    if shell not in ("bash", "zsh"):
        from dltricks.errors import BadInput

        raise BadInput(f"-sc install={shell}: bash or zsh")
    script = BASH % {"commands": " ".join(COMMANDS), "hydra": " ".join(HYDRA_COMMANDS)}
    if shell == "zsh":
        script = "autoload -U +X bashcompinit && bashcompinit\n" + script
    return script
