module penguinmails.local/toolchain/language-nodejs

go 1.25.11

require (
	github.com/pulumi/pulumi/sdk/v3 v3.276.0
	google.golang.org/grpc v1.81.1
	google.golang.org/protobuf v1.36.11
)
