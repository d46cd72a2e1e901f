# Multi-stage build: a static binary on a distroless base, run as non-root.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/alter ./cmd/alter

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/alter /usr/local/bin/alter
ENV ALTER_HOME=/var/lib/alter
USER nonroot:nonroot
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/alter"]
CMD ["proxy", "--listen", "0.0.0.0:8080"]
