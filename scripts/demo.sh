#!/usr/bin/env bash
# `make demo`: a guided tour of the command line on a throwaway store.
# Passwords go through files, never argv; everything lives in a temporary folder removed at the end.
set -euo pipefail
MIKATA="${1:?usage: demo.sh PATH-TO-mikata}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export MIKATA_STORE="$work/store"
# The store's root key lives outside the store (docs/OPERATIONS.md); for the demo, in the throwaway folder too.
export MIKATA_ROOT_KEY_DIR="$work/root-keys"
printf 'patient-demo-password\n' >"$work/patient.pw"
printf 'nurse-a-demo-password\n' >"$work/nurse-a.pw"
printf 'nurse-b-demo-password\n' >"$work/nurse-b.pw"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ mikata %s\n' "$*"; "$MIKATA" "$@"; }

step "1. Create a store (a local directory: $MIKATA_STORE) and its root key (kept outside it)"
run init
step "2. A patient creates their vault (Argon2id password slot + a one-time recovery code)"
run patient create --email patient@example.jp --nickname Taro --password-file "$work/patient.pw"
step "3. Two public-health nurses register as supporters (their own X25519/Ed25519 key pairs)"
run supporter create --email nurse.a@hokenjo.example.jp --name "Nurse A" --password-file "$work/nurse-a.pw"
run supporter create --email nurse.b@hokenjo.example.jp --name "Nurse B" --password-file "$work/nurse-b.pw"
step "4. The patient links both nurses (the vault key is sealed to each nurse's public key)"
run grant --email patient@example.jp --supporter nurse.a@hokenjo.example.jp --password-file "$work/patient.pw"
run grant --email patient@example.jp --supporter nurse.b@hokenjo.example.jp --password-file "$work/patient.pw"
step "5. Records: a dose by the patient, a message by Nurse A (each signed by its author)"
run record add --email patient@example.jp --type dose --data '{"drug":"isoniazid","mg":300}' --password-file "$work/patient.pw"
run record add --email patient@example.jp --type message --data '{"text":"Well done, keep going!"}' --as-supporter nurse.a@hokenjo.example.jp --password-file "$work/nurse-a.pw"
step "6. Nurse B reads the vault"
run record list --email patient@example.jp --as-supporter nurse.b@hokenjo.example.jp --password-file "$work/nurse-b.pw"
step "7. The patient removes Nurse A: a new key epoch, resealed to Nurse B only"
run revoke --email patient@example.jp --supporter nurse.a@hokenjo.example.jp --password-file "$work/patient.pw"
run record add --email patient@example.jp --type side-effect --data '{"symptom":"nausea","grade":1,"onset":"2026-11-01T09:00:00Z"}' --password-file "$work/patient.pw"
step "8. Nurse A is shut out (exit 77), Nurse B still reads everything"
set +e
run record list --email patient@example.jp --as-supporter nurse.a@hokenjo.example.jp --password-file "$work/nurse-a.pw"
echo "(exit code $?)"
set -e
run record list --email patient@example.jp --as-supporter nurse.b@hokenjo.example.jp --password-file "$work/nurse-b.pw"
step "9. What anyone can see without a password, and a full verification with one"
run vault inspect --email patient@example.jp
run vault verify --email patient@example.jp --password-file "$work/patient.pw"
step "Done: the throwaway store is removed. Try 'mikata help' for the whole command line."
