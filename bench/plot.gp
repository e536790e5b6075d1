# bench.png from report.js's data files: warm-path throughput per connection
# count (left) and kvsgate's RSS during the soak (right).
#   gnuplot -e "outdir='bench/results/DATE'" bench/plot.gp
set terminal pngcairo size 1400,560 font "sans,11"
set output outdir.'/bench.png'
set multiplot layout 1,2
tput = outdir.'/throughput.dat'
stats tput skip 1 using 1 nooutput
ncol = STATS_columns
set title "Warm viewer-info: requests/s (median of runs)"
set logscale xy
set xlabel "keep-alive connections (wrk, same 2 cores)"
set ylabel "requests per second"
set xtics (1, 4, 16, 64, 256)
set grid
set key right center box opaque
set linetype 1 lc rgb "#555555"
set linetype 2 lc rgb "#1f77b4"
set linetype 3 lc rgb "#2ca02c"
set linetype 4 lc rgb "#9467bd"
set linetype 5 lc rgb "#d62728"
plot for [i=2:ncol] tput using 1:i with linespoints lw 2 pt 7 title columnheader(i)
unset logscale
set autoscale
set title "kvsgate RSS during the soak (64 connections)"
set xlabel "minutes"
set ylabel "RSS (MB)"
set xtics auto
set yrange [0:*]
set key off
plot outdir.'/soak.dat' using ($1/60):2 with linespoints lw 2 pt 7 lc rgb "#1f77b4"
unset multiplot
