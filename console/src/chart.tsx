/**
 * A live time series drawn by uPlot (canvas): one instance per chart, fed new
 * data in place with setData, so a refresh every two seconds redraws without
 * rebuilding anything.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { bytes, seconds } from './format.ts';

export interface Line {
  label: string;
  values: Array<number | null>;
  color: string;
  /** Which axis: left (default) or right. */
  scale?: string;
  format?: (value: number) => string;
}

export function Chart(props: { title: string; t: number[]; lines: Line[]; height?: number; testId?: string }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = props.lines.map((l) => `${l.label}/${l.scale ?? 'y'}`).join(',');
  const data = [props.t, ...props.lines.map((l) => l.values)] as uPlot.AlignedData;

  useEffect(() => {
    const element = host.current!;
    const scales = [...new Set(props.lines.map((l) => l.scale ?? 'y'))];
    const formatFor = (scale: string) => props.lines.find((l) => (l.scale ?? 'y') === scale)?.format ?? ((v: number) => String(v));
    const options: uPlot.Options = {
      width: Math.max(240, element.clientWidth),
      height: props.height ?? 160,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, ...Object.fromEntries(scales.map((s) => [s, { auto: true, range: (_u: uPlot, min: number, max: number): uPlot.Range.MinMax => [0, Math.max(max, min, 1) * 1.1] }])) },
      series: [
        {},
        ...props.lines.map((l) => ({ label: l.label, stroke: l.color, width: 1.5, scale: l.scale ?? 'y', fill: `${l.color}22`, value: (_u: uPlot, v: number | null) => (v === null ? '–' : (l.format ?? String)(v)), spanGaps: true })),
      ],
      axes: [
        { stroke: '#8b949e', grid: { stroke: '#30363d' } },
        ...scales.map((s, i) => ({ scale: s, side: i === 0 ? 3 : 1, stroke: '#8b949e', grid: { show: i === 0, stroke: '#30363d' }, size: 70, values: (_u: uPlot, ticks: number[]) => ticks.map(formatFor(s)) })),
      ],
    };
    plot.current = new uPlot(options, data, element);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(240, element.clientWidth), height: props.height ?? 160 }));
    resize.observe(element);
    return () => { resize.disconnect(); plot.current?.destroy(); plot.current = null; };
  }, [shape]);

  useEffect(() => { plot.current?.setData(data); });

  return (
    <figure class="chart" data-testid={props.testId} data-points={props.t.length} data-max={Math.max(0, ...props.lines.flatMap((l) => l.values.filter((v): v is number => v !== null)))}>
      <figcaption>{props.title}</figcaption>
      <div ref={host} />
    </figure>
  );
}

export const formatBytes = (v: number) => bytes(v);
export const formatSeconds = (v: number) => seconds(v);
export const formatRate = (v: number) => `${v >= 1000 ? `${(v / 1000).toFixed(1)}k` : Math.round(v)}/s`;
