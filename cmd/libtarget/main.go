// Command libtarget is an example service whose goroutine leaks sit entirely
// in library code: each of five handlers misuses a real library the way
// production code does, and the goroutines left behind are the library's,
// started by the library's functions. It also uses the same libraries
// correctly, under a load that rises and falls, so that a detector has to
// tell the library's pooled goroutines from its leaked ones.
//
//	libtarget -addr 127.0.0.1:6060 -leaks -rate 2
//
// serves net/http/pprof and the handlers on -addr, and drives them itself:
//
//	/leak/body     an HTTP response body never closed: the transport's
//	               readLoop and writeLoop stay
//	/leak/db       sql.Open per request, never closed: database/sql's
//	               connectionOpener stays
//	/leak/grpc     a gRPC client connection per request, never closed: its
//	               transport's goroutines stay
//	/leak/cache    a TTL cache per request whose janitor is never stopped
//	/leak/watch    an fsnotify watcher per request, never closed: its reader
//	               stays
//
// Without -leaks it runs only the correct uses: one shared client, database,
// connection and cache, and watchers that are closed. The HTTP and gRPC
// servers the clients call run in this process too, so the server side of
// each leaked connection stays as well (net/http's conn.serve, gRPC's
// server transport).
//
// Run it with GODEBUG=tracebackancestors=N and its debug=2 dump shows, under
// each leaked goroutine, the goroutines that created it, back to the
// handler that misused the library.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	_ "net/http/pprof" //nolint:gosec // G108: serving pprof is this program's purpose.
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/jellydator/ttlcache/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	_ "modernc.org/sqlite"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6060", "address of the pprof endpoints and the handlers")
	leaks := flag.Bool("leaks", false, "drive the five handlers that misuse their libraries")
	rate := flag.Float64("rate", 2, "requests a second to each misusing handler")
	watchMax := flag.Int("watch-max", 60, "most fsnotify watchers to leak: the kernel allows a user 128 inotify instances")
	load := flag.Int("load", 8, "peak number of workers using the libraries correctly")
	period := flag.Duration("period", 20*time.Second, "period of the correct uses' load, which rises and falls")
	flag.Parse()
	if err := listen(*addr, config{leaks: *leaks, rate: *rate, watchMax: *watchMax, load: *load, period: *period}); err != nil {
		log.Fatal(err)
	}
}

// listen serves on addr until the process is told to stop.
func listen(addr string, cfg config) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	// The e2e tests read the address from this line.
	fmt.Printf("libtarget serving http://%s/debug/pprof/\n", ln.Addr())
	return run(ctx, ln, cfg)
}

type config struct {
	leaks    bool
	rate     float64
	watchMax int
	load     int
	period   time.Duration
}

// run serves the handlers and pprof on ln, and drives them, until ctx ends.
func run(ctx context.Context, ln net.Listener, cfg config) error {
	b, err := startBackends()
	if err != nil {
		return err
	}
	defer b.stop()
	a, err := newApp(b, cfg.watchMax)
	if err != nil {
		return err
	}
	defer a.close()
	// The handlers beside net/http/pprof's, on the default mux.
	mux := http.DefaultServeMux
	mux.HandleFunc("/leak/body", a.leakBody)
	mux.HandleFunc("/leak/db", a.leakDB)
	mux.HandleFunc("/leak/grpc", a.leakGRPC)
	mux.HandleFunc("/leak/cache", a.leakCache)
	mux.HandleFunc("/leak/watch", a.leakWatch)
	mux.HandleFunc("/use", a.use)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close() }()

	// The driver's client keeps no connection, so that the only pooled
	// connections are the handlers'.
	d := driver{client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, base: "http://" + ln.Addr().String()}
	var wg sync.WaitGroup
	if cfg.leaks {
		for _, path := range []string{"/leak/body", "/leak/db", "/leak/grpc", "/leak/cache", "/leak/watch"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.steady(ctx, path, cfg.rate)
			}()
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.rise(ctx, "/use", cfg.load, cfg.period)
	}()
	<-ctx.Done()
	wg.Wait()
	return nil
}

// driver requests the handlers, as the service's clients would.
type driver struct {
	client *http.Client
	base   string
}

// steady requests path at rate a second until ctx ends.
func (d driver) steady(ctx context.Context, path string, rate float64) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			d.get(ctx, path)
		}
	}
}

// rise runs between 1 and peak workers requesting path, their number a
// sine of the period: load that comes and goes.
func (d driver) rise(ctx context.Context, path string, peak int, period time.Duration) {
	start := time.Now()
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			phase := 2 * math.Pi * float64(now.Sub(start)) / float64(period)
			n := 1 + int(math.Round(float64(peak-1)*(1+math.Sin(phase))/2))
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d.get(ctx, path)
				}()
			}
		}
	}
}

func (d driver) get(ctx context.Context, path string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.base+path, nil)
	if err != nil {
		return
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}

// app holds what the correct uses share.
type app struct {
	backend *backends
	// client is the correct uses' HTTP client: a pool of their own, so that
	// a connection they dialed is never the one a misuse leaks (the
	// ancestry of a pooled connection's goroutines names who dialed it,
	// not who used it last). Its goroutines share the leaked ones' stacks.
	client *http.Client
	db     *sql.DB
	conn   *grpc.ClientConn
	cache  *ttlcache.Cache[string, string]
	dir    string

	mu      sync.Mutex
	watches int
	max     int
}

func newApp(b *backends, watchMax int) (*app, error) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(b.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "libtarget")
	if err != nil {
		return nil, err
	}
	cache := ttlcache.New[string, string](ttlcache.WithTTL[string, string](time.Minute))
	go cache.Start()
	return &app{backend: b, client: &http.Client{Transport: &http.Transport{}}, db: db, conn: conn, cache: cache, dir: dir, max: watchMax}, nil
}

func (a *app) close() {
	a.cache.Stop()
	_ = a.conn.Close()
	_ = a.db.Close()
	a.client.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()
	_ = os.RemoveAll(a.dir)
}

// leakBody reads the backend's status and returns without closing the
// body: the connection can never go back to the pool, and its two
// goroutines wait on it for ever.
func (a *app) leakBody(w http.ResponseWriter, _ *http.Request) {
	resp, err := http.Get("http://" + a.backend.httpAddr + "/hello") // misuse: a body never closed
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	_, _ = fmt.Fprintln(w, resp.Status)
}

// leakDB opens a database per request and never closes it: each *sql.DB
// starts a goroutine that opens connections until Close.
func (a *app) leakDB(w http.ResponseWriter, r *http.Request) {
	db, err := sql.Open("sqlite", ":memory:") // misuse: a database per request, never closed
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var n int
	if err := db.QueryRowContext(r.Context(), "SELECT 1").Scan(&n); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = fmt.Fprintln(w, n)
}

// leakGRPC dials the backend per request and never closes the connection.
func (a *app) leakGRPC(w http.ResponseWriter, r *http.Request) {
	conn, err := grpc.NewClient(a.backend.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials())) // misuse: a connection per request, never closed
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	resp, err := healthpb.NewHealthClient(conn).Check(r.Context(), &healthpb.HealthCheckRequest{}) // misuse: the call that connects it
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	_, _ = fmt.Fprintln(w, resp.GetStatus())
}

// leakCache builds a cache per request and starts its janitor, which runs
// until Stop, never called.
func (a *app) leakCache(w http.ResponseWriter, r *http.Request) {
	cache := ttlcache.New[string, string](ttlcache.WithTTL[string, string](time.Minute))
	go cache.Start() // misuse: a janitor never stopped
	cache.Set(r.URL.Path, r.RemoteAddr, ttlcache.DefaultTTL)
	_, _ = fmt.Fprintln(w, cache.Len())
}

// leakWatch watches a directory per request and never closes the watcher.
func (a *app) leakWatch(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	if a.watches >= a.max {
		a.mu.Unlock()
		http.Error(w, "watcher limit reached", http.StatusTooManyRequests)
		return
	}
	a.watches++
	a.mu.Unlock()
	watcher, err := fsnotify.NewWatcher() // misuse: a watcher never closed
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if err := watcher.Add(a.dir); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = fmt.Fprintln(w, watcher.WatchList())
}

// use is every library used as it should be: bodies closed, one database,
// one gRPC connection and one cache for all requests, watchers closed.
func (a *app) use(w http.ResponseWriter, r *http.Request) {
	resp, err := a.client.Get("http://" + a.backend.httpAddr + "/hello")
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	var n int
	if err := a.db.QueryRowContext(r.Context(), "SELECT 1").Scan(&n); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if _, err := healthpb.NewHealthClient(a.conn).Check(r.Context(), &healthpb.HealthCheckRequest{}); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	a.cache.Set(r.RemoteAddr, r.URL.Path, ttlcache.DefaultTTL)
	if watcher, err := fsnotify.NewWatcher(); err == nil {
		_ = watcher.Add(a.dir)
		_ = watcher.Close()
	}
	// Hold the request a while, so that the pools grow with the load.
	select {
	case <-time.After(100 * time.Millisecond):
	case <-r.Context().Done():
	}
	_, _ = fmt.Fprintln(w, n)
}

// backends are the servers the clients call.
type backends struct {
	httpAddr, grpcAddr string
	http               *http.Server
	grpc               *grpc.Server
}

// startBackends serves HTTP and gRPC's health service on ports of their
// own.
func startBackends() (*backends, error) {
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = hl.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprintln(w, "hello") })
	b := &backends{
		httpAddr: hl.Addr().String(), grpcAddr: gl.Addr().String(),
		http: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		grpc: grpc.NewServer(),
	}
	healthpb.RegisterHealthServer(b.grpc, health.NewServer())
	go func() {
		if err := b.http.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Print(err)
		}
	}()
	go func() { _ = b.grpc.Serve(gl) }()
	return b, nil
}

func (b *backends) stop() {
	_ = b.http.Close()
	b.grpc.Stop()
}
