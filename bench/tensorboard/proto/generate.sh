#!/usr/bin/env bash
# Regenerates event.pb.go and hparams.pb.go from the .proto files beside this script. Needs protoc
# (Debian: apt-get install protobuf-compiler; generated here with libprotoc 3.21.12, whose
# /usr/include has google/protobuf/struct.proto) and protoc-gen-go at the version of
# google.golang.org/protobuf in go.mod (go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12).
set -euo pipefail
cd "$(dirname "$0")/../../.."
PATH="$(go env GOPATH)/bin:$PATH" protoc -I . -I /usr/include --go_out=. --go_opt=paths=source_relative \
  bench/tensorboard/proto/event.proto bench/tensorboard/proto/hparams.proto
