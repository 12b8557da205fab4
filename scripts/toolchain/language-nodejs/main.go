// pulumi-language-nodejs is the Node.js language host the Pulumi engine
// starts to run a program or a policy pack.
//
// Pulumi's own host lives in a Go module that the module proxy does not serve,
// so the toolchain builds this one from the SDK packages it does serve. It
// speaks the same LanguageRuntime protocol and launches the same entry points
// of @pulumi/pulumi (cmd/run, cmd/run-policy-pack, cmd/run-plugin) with the
// same arguments and environment, resolved from the program's node_modules.
// What it leaves out: codegen (GenerateProject/Program/Package, Pack, Link),
// `pulumi install` (dependencies come from `npm ci`), and debugger attach.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	sdk "github.com/pulumi/pulumi/sdk/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Version is set with -ldflags to the CLI version it ships with.
var Version = "3.248.0"

// The Node.js runtime exits with this code after it has already shown the
// user an actionable message; the engine should not add another.
const exitAfterActionableMessage = 32

func main() {
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.String("tracing", "", "accepted for compatibility; tracing is not forwarded")
	flag.String("runtime", "nodejs", "accepted for compatibility; only nodejs is supported")
	flag.Parse()
	if *showVersion {
		fmt.Println(Version)
		return
	}
	host := &languageHost{}
	if args := flag.Args(); len(args) > 0 {
		host.engineAddress = args[0]
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cancel := make(chan bool)
	go func() { <-ctx.Done(); close(cancel) }()
	watchEngine(host)
	if host.engineAddress != "" {
		// Pulumi's own hosts poll the engine's health service every 5 minutes; 2 s here, as a
		// second signal beside the stdin pipe (see watchEngine).
		if err := rpcutil.Healthcheck(ctx, host.engineAddress, 2*time.Second, func() {
			if ctx.Err() == nil { // not our own interrupt ending the check
				host.engineGone("its health check failed")
			}
		}); err != nil {
			fail(fmt.Errorf("could not start the engine health check: %w", err))
		}
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		fail(fmt.Errorf("could not start the language host: %w", err))
	}
	// The engine reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: %v\n", err)
	os.Exit(1)
}

type languageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string

	mu       sync.Mutex
	children map[*exec.Cmd]struct{} // the node processes running a program or a plugin
}

// watchEngine ends this host, and the node processes it started, as soon as the engine that
// started it is gone, so a killed CLI leaves no program or policy pack running (a program reads
// Hostwinds' catalogue; nothing may call Hostwinds once nobody records the outcome).
//
// How Pulumi's own hosts notice: rpcutil.Healthcheck polls the engine's gRPC health service
// every 5 minutes (sdk/go/pulumi/provider/main.go; the host above keeps that check, every 2 s).
// The prompt signal is one the engine gives every plugin and language host: a stdin pipe only it
// holds (pkg/resource/plugin/plugin.go, cmd.StdinPipe(); close-on-exec, so no other process
// inherits it). End of file on it means the engine process has exited, however it died.
func watchEngine(h *languageHost) {
	if fi, err := os.Stdin.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return // not started by an engine (run by hand): nothing to watch
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin) // the engine never writes; returns at EOF
		h.engineGone("its pipe closed")
	}()
}

// engineGone kills every node process this host started (no one is left to report to, so no
// graceful interrupt) and exits.
func (h *languageHost) engineGone(why string) {
	h.mu.Lock()
	for c := range h.children {
		if c.Process != nil {
			_ = c.Process.Kill()
		}
	}
	fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: the engine is gone (%s); stopping\n", why)
	os.Exit(1)
}

// start starts a node process that dies with this host (Pdeathsig, should the host itself be
// killed) and that engineGone kills.
func (h *languageHost) start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	if h.children == nil {
		h.children = map[*exec.Cmd]struct{}{}
	}
	h.children[cmd] = struct{}{}
	return nil
}

func (h *languageHost) wait(cmd *exec.Cmd) error {
	err := cmd.Wait()
	h.mu.Lock()
	delete(h.children, cmd)
	h.mu.Unlock()
	return err
}

func (h *languageHost) Handshake(ctx context.Context, req *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.EngineAddress
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: Version}, nil
}

// GetRequiredPackages reports none: providers are started on first use from
// the plugin cache or PATH, and automatic downloads are off in this project.
func (h *languageHost) GetRequiredPackages(context.Context, *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *languageHost) GetRequiredPlugins(context.Context, *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *languageHost) GetProgramDependencies(context.Context, *pulumirpc.GetProgramDependenciesRequest) (*pulumirpc.GetProgramDependenciesResponse, error) {
	return &pulumirpc.GetProgramDependenciesResponse{}, nil
}

func (h *languageHost) About(ctx context.Context, _ *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{Executable: node, Version: strings.TrimPrefix(strings.TrimSpace(string(out)), "v")}, nil
}

// InstallDependencies is a no-op: this project installs with `npm ci`.
func (h *languageHost) InstallDependencies(*pulumirpc.InstallDependenciesRequest, grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse]) error {
	return nil
}

type options struct {
	typescript bool
	tsconfig   string
	nodeargs   []string
}

func parseOptions(info *pulumirpc.ProgramInfo) options {
	o := options{typescript: true}
	if info == nil || info.Options == nil {
		return o
	}
	m := info.Options.AsMap()
	if v, ok := m["typescript"].(bool); ok {
		o.typescript = v
	}
	if v, ok := m["tsconfig"].(string); ok {
		o.tsconfig = v
	}
	if v, ok := m["nodeargs"].(string); ok {
		o.nodeargs = strings.Fields(v)
	}
	return o
}

func (o options) env() []string {
	var env []string
	if o.typescript {
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT=true")
	}
	if o.tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+o.tsconfig)
	}
	return env
}

// javascriptOnly is loaded first into a program or policy pack that says `typescript: false`.
const javascriptOnly = "javascript-only.js"

// besideHost is a file shipped next to this binary (the toolchain copies it there).
func besideHost(name string) (string, error) {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return "", fmt.Errorf("could not find the language host's folder: %w", err)
	}
	file := filepath.Join(filepath.Dir(exe), name)
	if _, err := os.Stat(file); err != nil {
		return "", fmt.Errorf("%s is missing beside the language host (%v): run `npm run toolchain`", name, err)
	}
	return file, nil
}

// resolve finds an entry point of @pulumi/pulumi (a folder with an index.js; the package has no
// "exports" map) the way Node's require.resolve would from dir: the nearest node_modules folder
// above dir that holds it, symbolic links resolved. Done here rather than with `node -e
// "require.resolve(...)"`, which started one more Node process (~30 ms of CPU) per program and per
// policy pack.
func resolve(dir, module string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if filepath.Base(d) != "node_modules" {
			entry := filepath.Join(d, "node_modules", filepath.FromSlash(module), "index.js")
			if fi, err := os.Stat(entry); err == nil && !fi.IsDir() {
				return filepath.EvalSymlinks(entry)
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("@pulumi/pulumi is not installed for %s: run npm ci in the project", abs)
		}
	}
}

// compileCacheDefault is Node's module compile cache for a program, a policy pack or a plugin
// when the caller set none: the folder scripts/lib/engine/pulumi-env.ts (compileCacheDir) gives the
// engine, so a `pulumi preview` run by hand reuses what every earlier run compiled (each Node
// process loads @pulumi/pulumi; compiling it again is ~0.1 s of CPU a process).
// NODE_DISABLE_COMPILE_CACHE=1 still turns it off.
func compileCacheDefault(env []string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "NODE_COMPILE_CACHE=") && kv != "NODE_COMPILE_CACHE=" {
			return env
		}
	}
	return append(env, "NODE_COMPILE_CACHE="+filepath.Join(os.TempDir(), "penguinmails-node-compile-cache"))
}

func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return &pulumirpc.RunResponse{Error: "could not find node on the PATH: " + err.Error()}, nil
	}
	info := req.GetInfo()
	runPath, err := resolve(info.GetProgramDirectory(), "@pulumi/pulumi/cmd/run")
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	opts := parseOptions(info)

	args := append([]string{}, opts.nodeargs...)
	if !opts.typescript {
		// A JavaScript program: TypeScript is loaded only if something uses it (see the file).
		preload, err := besideHost(javascriptOnly)
		if err != nil {
			return &pulumirpc.RunResponse{Error: err.Error()}, nil
		}
		args = append([]string{"--require", preload}, args...)
	}
	args = append(args, runPath)
	flagArg := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	flagArg("monitor", req.GetMonitorAddress())
	flagArg("engine", h.engineAddress)
	flagArg("organization", req.GetOrganization())
	flagArg("project", req.GetProject())
	flagArg("root-directory", info.GetRootDirectory())
	flagArg("stack", req.GetStack())
	flagArg("pwd", info.GetProgramDirectory())
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	flagArg("parallel", strconv.Itoa(int(req.GetParallel())))
	args = append(args, info.GetEntryPoint())
	args = append(args, req.GetArgs()...)

	// The SDK reads config keys in the "<namespace>:config:<name>" form.
	cfg := map[string]string{}
	for k, v := range req.GetConfig() {
		key, err := config.ParseKey(k)
		if err != nil {
			return &pulumirpc.RunResponse{Error: err.Error()}, nil
		}
		cfg[key.Namespace()+":config:"+key.Name()] = v
	}
	cfgJSON, _ := json.Marshal(cfg)
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretJSON, _ := json.Marshal(secretKeys)

	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = info.GetProgramDirectory()
	cmd.Env = append(os.Environ(), "PULUMI_CONFIG="+string(cfgJSON), "PULUMI_CONFIG_SECRET_KEYS="+string(secretJSON))
	cmd.Env = compileCacheDefault(append(cmd.Env, opts.env()...))
	// Node may switch its stdio to non-blocking; hand it pipes, not our fds.
	cmd.Stdout = struct{ io.Writer }{os.Stdout}
	cmd.Stderr = struct{ io.Writer }{os.Stderr}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second

	err = h.start(cmd)
	if err == nil {
		err = h.wait(cmd)
	}
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == exitAfterActionableMessage {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode())}, nil
		}
		return &pulumirpc.RunResponse{Error: "could not run node: " + err.Error()}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// RunPlugin starts a plugin written in Node.js. Policy packs (kind analyzer)
// go through the SDK's policy proxy, which hands the stack's configuration to
// the pack before it starts, as Pulumi's own host does.
func (h *languageHost) RunPlugin(req *pulumirpc.RunPluginRequest, server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse]) error {
	ctx := server.Context()
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()

	node, err := exec.LookPath("node")
	if err != nil {
		return err
	}
	dir := req.GetInfo().GetProgramDirectory()
	isPolicy := req.GetKind() == string(apitype.AnalyzerPlugin)
	module := "@pulumi/pulumi/cmd/run-plugin"
	if isPolicy {
		module = "@pulumi/pulumi/cmd/run-policy-pack"
	}
	runPath, err := resolve(dir, module)
	if err != nil {
		return err
	}
	opts := parseOptions(req.GetInfo())
	env := append(append([]string{}, req.GetEnv()...), opts.env()...)
	args := append([]string{runPath}, opts.nodeargs...)
	if !opts.typescript {
		// The SDK's policy-pack runner loads TypeScript and ts-node whatever the pack is written in;
		// a pack that says `typescript: false` runs its JavaScript without them (see the file).
		preload, err := besideHost(javascriptOnly)
		if err != nil {
			return err
		}
		args = append([]string{"--require", preload}, args...)
	}
	if isPolicy {
		args = append(append(args, req.GetArgs()...), dir)
	} else {
		args = append(append(args, dir), req.GetArgs()...)
	}

	var proxy *sdk.PolicyProxy
	if isPolicy {
		proxy, stdout, err = sdk.NewPolicyProxy(ctx, stdout)
		if err != nil {
			return fmt.Errorf("could not start the policy pack proxy: %w", err)
		}
		stackCfg, err := proxy.AwaitConfiguration(ctx)
		if err != nil {
			return fmt.Errorf("could not get the stack configuration: %w", err)
		}
		if stackCfg != nil {
			add := func(k, v string) {
				if v != "" {
					env = append(env, k+"="+v)
				}
			}
			add("PULUMI_NODEJS_ORGANIZATION", stackCfg.Organization)
			add("PULUMI_NODEJS_PROJECT", stackCfg.Project)
			add("PULUMI_NODEJS_STACK", stackCfg.Stack)
			add("PULUMI_NODEJS_DRY_RUN", strconv.FormatBool(stackCfg.DryRun))
			if stackCfg.Config != nil {
				b, _ := json.Marshal(stackCfg.Config)
				add("PULUMI_CONFIG", string(b))
			}
		}
	}

	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = req.GetPwd()
	if isPolicy {
		cmd.Dir = dir
	}
	cmd.Env = compileCacheDefault(env)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := h.start(cmd); err != nil {
		return fmt.Errorf("could not start node for plugin %s: %w", filepath.Base(dir), err)
	}
	if proxy != nil {
		return proxy.Attach(ctx, cmd)
	}
	if err := h.wait(cmd); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return fmt.Errorf("plugin exited with non-zero exit code: %d", exitErr.ExitCode())
		}
		return err
	}
	return closer.Close()
}
